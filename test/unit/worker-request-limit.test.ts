// Unit: the worker's own request count against its max-requests limit (src/worker/stats.ts): the
// callback comes once, at the answer that reaches the limit (not a beat later), at once when the
// limit is already reached, never for abandoned requests; natively served answers (read from
// their counters, never per request) count too, read within the poll's bounds.
// Runs in: the test runner process.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ExternalCounts } from '../../src/protocols/types.js';
import { NATIVE_LIMIT_POLL_MAX_MS, WorkerStatsCollector } from '../../src/worker/stats.js';
import { waitUntil } from '../helpers/raas.js';

const listeners = [
  { fd: 3, protocol: 'http', address: 'http://h' },
  { fd: 4, protocol: 'line', address: 'line://l' },
];

function serve(c: WorkerStatsCollector, listener: number, n: number): void {
  for (let i = 0; i < n; i++) {
    c.started(listener);
    c.answered(listener, 0.001, false);
  }
}

describe('the worker counts its requests against its limit', () => {
  it('calls back once, at the answer that reaches the limit, every listener together', () => {
    const c = new WorkerStatsCollector(listeners);
    const calls: number[] = [];
    c.watchLimit(10, (requests) => calls.push(requests));
    serve(c, 0, 6);
    c.started(1);
    c.abandoned(1); // a request that was never answered does not count
    serve(c, 1, 3);
    assert.equal(calls.length, 0);
    serve(c, 0, 1);
    assert.deepEqual(calls, [10]);
    serve(c, 0, 50);
    assert.deepEqual(calls, [10], 'once');
    c.watchLimit(5, (requests) => calls.push(requests));
    assert.deepEqual(calls, [10], 'a second limit is ignored');
  });

  it('a limit already reached when it arrives calls back at once, with the count', () => {
    const c = new WorkerStatsCollector(listeners);
    serve(c, 0, 12);
    const calls: number[] = [];
    c.watchLimit(10, (requests) => calls.push(requests));
    assert.deepEqual(calls, [12]);
  });

  it('natively served answers count, read from their counters', async () => {
    const c = new WorkerStatsCollector(listeners);
    const native: ExternalCounts = { accepted: 0, answered: 0, errors: 0, open: 0, latency: { buckets: [], sum: 0 } };
    let reads = 0;
    c.external(1, () => {
      reads += 1;
      return { ...native };
    });
    const calls: number[] = [];
    c.watchLimit(1000, (requests) => calls.push(requests));
    native.answered = 990;
    serve(c, 0, 5);
    assert.equal(calls.length, 0, 'JavaScript alone is below the limit');
    native.answered = 996;
    const at = Date.now();
    await waitUntil('the native answers are read', () => calls.length > 0, 5 * NATIVE_LIMIT_POLL_MAX_MS);
    assert.deepEqual(calls, [1001]);
    assert.ok(Date.now() - at <= NATIVE_LIMIT_POLL_MAX_MS + 200, `read within the poll's bound: ${Date.now() - at} ms`);
    const readsThen = reads;
    native.answered = 5000;
    // Time itself is what is tested: no read may come for three of the poll's longest periods,
    // and a poll that must NOT run has no event to wait for.
    await new Promise((resolve) => setTimeout(resolve, 3 * NATIVE_LIMIT_POLL_MAX_MS));
    assert.equal(reads, readsThen, 'no more reads once reached');
    assert.deepEqual(calls, [1001]);
  });
});
