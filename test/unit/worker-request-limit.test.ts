// Unit: the worker's own request count against its max-requests limit (src/worker/stats.ts): the
// callback comes once, at the answer that reaches the limit (not a beat later), at once when the
// limit is already reached, never for abandoned requests; natively served answers (read from
// their counters, never per request) count too: against a budget the native server keeps (moved
// down by every JavaScript answer, called back with the exact total), or, without one, read
// within the poll's bounds.
// Runs in: the test runner process.

import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import type { ExternalCounts, NativeBudget } from '../../src/protocols/types.js';
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

  it('natively served answers count, read from their counters', () => {
    // The poll's timers on a fake clock: "read within its bound" and "no read once reached" are
    // ticks of that clock, not waits.
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      readNativeCounters();
    } finally {
      mock.timers.reset();
    }
  });

  function readNativeCounters(): void {
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
    mock.timers.tick(NATIVE_LIMIT_POLL_MAX_MS);
    assert.deepEqual(calls, [1001], "read within the poll's bound");
    const readsThen = reads;
    native.answered = 5000;
    // No read for three of the poll's longest periods once the limit is reached.
    mock.timers.tick(3 * NATIVE_LIMIT_POLL_MAX_MS);
    assert.equal(reads, readsThen, 'no more reads once reached');
    assert.deepEqual(calls, [1001]);
  }

  it('a native server with a budget is given the limit less what JavaScript answered, and calls back the exact total', () => {
    const c = new WorkerStatsCollector(listeners);
    const native: ExternalCounts = { accepted: 0, answered: 990, errors: 0, open: 0, latency: { buckets: [], sum: 0 } };
    const budgets: number[] = [];
    let onReached: ((answered: number) => void) | undefined;
    const budget: NativeBudget = (total, reached) => {
      budgets.push(total);
      if (reached) onReached = reached;
    };
    c.external(1, () => ({ ...native }), budget);
    serve(c, 0, 5);
    const calls: number[] = [];
    c.watchLimit(1000, (requests) => calls.push(requests));
    assert.deepEqual(budgets, [995], 'the limit less the 5 JavaScript answered (native counts since start)');
    assert.ok(onReached, 'a callback is given with the budget');
    serve(c, 0, 2);
    assert.deepEqual(budgets, [995, 994, 993], 'each JavaScript answer moves the budget down');
    assert.equal(calls.length, 0);
    onReached(993);
    assert.deepEqual(calls, [1000], 'exactly the limit: 7 from JavaScript and 993 natively');
    onReached(993);
    serve(c, 0, 3);
    assert.deepEqual(calls, [1000], 'once');
    assert.deepEqual(budgets, [995, 994, 993], 'no budget moved once reached');
  });

  it('a budget is not used for two native servers: the poll reads them', async () => {
    const c = new WorkerStatsCollector([...listeners, { fd: 5, protocol: 'line', address: 'line://m' }]);
    const used: number[] = [];
    const counts = (answered: number): ExternalCounts => ({ accepted: 0, answered, errors: 0, open: 0, latency: { buckets: [], sum: 0 } });
    let a = 0;
    c.external(1, () => counts(a), () => used.push(1));
    c.external(2, () => counts(0), () => used.push(2));
    const calls: number[] = [];
    c.watchLimit(10, (requests) => calls.push(requests));
    a = 12;
    await waitUntil('the poll reads the native answers', () => calls.length > 0, 5 * NATIVE_LIMIT_POLL_MAX_MS);
    assert.deepEqual(calls, [12]);
    assert.deepEqual(used, []);
  });
});
