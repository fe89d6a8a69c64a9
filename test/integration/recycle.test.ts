// Integration: recycling with real processes. Under a steady HTTP keep-alive and line load,
// workers past `max-requests` (with jitter) are replaced with zero failed requests, and each
// replacement is ready before its predecessor is told to drain (by the order of the log lines);
// a worker whose RSS passes `max-memory` (an app that keeps a big buffer) is recycled likewise.
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { LOG } from '../../src/log.js';
import { LineLoad, targetOf } from '../helpers/clients.js';
import { HttpLoad, httpRequest, httpTarget } from '../helpers/http-load.js';
import { reapAll, startRaas, waitUntil, type LogEntry, type RaasProcess } from '../helpers/raas.js';

after(reapAll);

const fixture = (name: string): string => fileURLToPath(new URL(`../../../test/fixtures/${name}`, import.meta.url));
const show = (value: unknown): string => JSON.stringify(value, null, 1);

/**
 * For every recycled worker: its replacement's worker-ready line comes before the master's
 * recycle-stop line, which comes before the old worker's own draining line.
 */
function assertReadyBeforeDrain(raas: RaasProcess, stops: LogEntry[]): void {
  const index = (predicate: (e: LogEntry) => boolean): number => raas.entries.findIndex(predicate);
  for (const stop of stops) {
    const ready = index((e) => e.event === LOG.WORKER_READY && e.role === 'master' && e.worker_pid === stop.replacement_pid);
    const stopAt = raas.entries.indexOf(stop);
    const draining = index((e) => e.event === LOG.WORKER_DRAINING && e.role === 'worker' && e.pid === stop.worker_pid);
    const begin = index((e) => e.event === LOG.RECYCLE_BEGIN && e.worker_pid === stop.worker_pid);
    const spawn = index((e) => e.event === LOG.WORKER_SPAWN && e.worker_pid === stop.replacement_pid);
    assert.ok(begin >= 0 && begin < spawn, `recycle-begin of ${stop.worker_pid} precedes the spawn of ${stop.replacement_pid}`);
    assert.ok(ready >= 0 && ready < stopAt, `replacement ${stop.replacement_pid} was ready before ${stop.worker_pid} was told to stop`);
    assert.ok(draining > stopAt, `${stop.worker_pid} began draining after the stop order`);
  }
}

describe('recycling', () => {
  it('max-requests with jitter under HTTP keep-alive and line load: workers replaced, ready first, zero failures', async () => {
    const raas = await startRaas({
      args: ['--listen', '127.0.0.1:0', '--listen', 'http://127.0.0.1:0', '-w', '2', '--max-requests', '50', '--max-requests-jitter', '20', '--timeout', '4'],
    });
    const [line, http] = await raas.ready();
    const httpLoad = new HttpLoad(httpTarget(http!), { concurrency: 6, reconnectEvery: 10, maxMs: 120_000 });
    const lineLoad = new LineLoad(targetOf(line!), 4, 120_000);
    const recycledExits = (): LogEntry[] => raas.events(LOG.WORKER_EXIT, 'master').filter((e) => e.reason === 'recycle-max-requests');
    try {
      // Four recycles: each of the two slots at least once, most likely both several times.
      await waitUntil('four workers recycled for max-requests', () => recycledExits().length >= 4, 90_000);
    } finally {
      const [httpReport, lineReport] = await Promise.all([httpLoad.stop(), lineLoad.stop()]);
      assert.equal(httpReport.failed, 0, show(httpReport));
      assert.equal(lineReport.failed, 0, show(lineReport));
      assert.ok(httpReport.ok > 0 && lineReport.ok > 0);
    }
    const begins = raas.events(LOG.RECYCLE_BEGIN, 'master');
    assert.ok(begins.length >= 4);
    for (const b of begins) {
      assert.equal(b.reason, 'max-requests');
      const limit = Number(b.limit);
      assert.ok(limit >= 50 && limit <= 70, `limit ${limit} is 50 + 0..20`);
      assert.ok(Number(b.requests) >= limit);
    }
    const stops = raas.events(LOG.RECYCLE_STOP, 'master');
    assert.ok(stops.length >= 4);
    assertReadyBeforeDrain(raas, stops);
    // Capacity never dropped below the target: two ready workers at the end, both replacements.
    await waitUntil('two workers ready', () => raas.readyWorkers().size === 2, 30_000);
    assert.deepEqual(raas.errorLines(), []);
  });

  it('max-memory: a worker whose RSS passes the limit is replaced, with the reason in the log', async () => {
    const raas = await startRaas({
      args: ['--listen', 'http://127.0.0.1:0', '-w', '1', '--max-memory', '160MiB', '--timeout', '4', '--app', fixture('recycle-memory-app.mjs')],
    });
    const [http] = await raas.ready();
    const target = httpTarget(http!);
    const first = await httpRequest(target, { path: '/' });
    const oldPid = String(first.headers['x-pid']);
    const load = new HttpLoad(target, { concurrency: 4, reconnectEvery: 10, maxMs: 120_000, request: () => ({ path: '/', expected: 'fine' }) });
    try {
      const grown = await httpRequest(target, { path: '/grow?mib=200' });
      assert.equal(grown.status, 200, grown.text);
      const begin = await raas.waitForEvent(LOG.RECYCLE_BEGIN, { role: 'master', worker_pid: oldPid }, { timeoutMs: 30_000 });
      assert.equal(begin.reason, 'max-memory');
      assert.ok(Number(begin.rss) > 160 * 1024 * 1024, `rss=${begin.rss}`);
      const exit = await raas.waitForEvent(LOG.WORKER_EXIT, { role: 'master', worker_pid: oldPid }, { timeoutMs: 60_000 });
      assert.equal(exit.reason, 'recycle-max-memory');
      assertReadyBeforeDrain(raas, raas.events(LOG.RECYCLE_STOP, 'master'));
      const after = await httpRequest(target, { path: '/' });
      assert.notEqual(String(after.headers['x-pid']), oldPid, 'a new worker serves');
    } finally {
      const report = await load.stop();
      assert.equal(report.failed, 0, show(report));
      assert.ok(report.ok > 0);
    }
  });
});
