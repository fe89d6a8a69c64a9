// Unit: the one snapshot of the workers (src/master/stats/snapshot.ts). The status file writes it;
// the stats report (/status, /metrics, `raas status`) shows the same rows, in the same order, with
// each worker's age and gauges added.
// Runs in: the test runner process (pure: fake worker records, a fixed clock).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderMetrics } from '../../src/admin/metrics.js';
import { workerSnapshot } from '../../src/master/stats/snapshot.js';
import { MasterStats } from '../../src/master/stats/stats.js';
import type { WorkerRecord } from '../../src/master/supervision/worker-table.js';
import { samples, sum } from '../helpers/admin.js';

function record(id: number, slot: number, generation: number, more: Partial<WorkerRecord> = {}): WorkerRecord {
  return {
    id, slot, generation, handle: { pid: 1000 + id } as WorkerRecord['handle'], state: 'ready',
    spawnedAt: 0, lastBeat: 0, stopOrder: null, stopReason: null, stopSentAt: 0, retiring: false, lastStats: null, drainStartedAt: null,
    requestLimit: null, recycleAsk: null, recycling: null, bootError: null, ...more,
  };
}

describe('worker snapshot', () => {
  // In table (spawn) order: a reload's new generation came after the old one it replaces.
  const table = [
    record(1, 1, 1, { stopOrder: 'graceful' }),
    record(2, 0, 1, { retiring: true }),
    record(3, 1, 2, { state: 'booting' }),
    record(4, 0, 2, { handle: { pid: undefined } as WorkerRecord['handle'] }),
  ];

  it('orders by slot then generation; told to stop or retiring is stopping; no pid is null', () => {
    assert.deepEqual(workerSnapshot(table), [
      { slot: 0, pid: 1002, generation: 1, state: 'stopping' },
      { slot: 0, pid: null, generation: 2, state: 'ready' },
      { slot: 1, pid: 1001, generation: 1, state: 'stopping' },
      { slot: 1, pid: 1003, generation: 2, state: 'booting' },
    ]);
  });

  it('the stats report and /metrics show the rows the status file shows', () => {
    const stats = new MasterStats(
      {
        clock: () => 2500,
        workers: () => table,
        listeners: () => [],
        master: () => ({ name: 'R', phase: 'running', generation: 2, target: 2, backlog: 1, reloads: { done: 1, aborted: 0, refused: 0 }, upgrades: { started: 0, failed: 0 } }),
      },
      null,
    );
    const report = stats.report();
    const rows = report.workers.map(({ slot, pid, generation, state }) => ({ slot, pid, generation, state }));
    assert.deepEqual(rows, workerSnapshot(table));
    assert.deepEqual(Object.keys(report.workers[0]!).slice(0, 5), ['slot', 'pid', 'generation', 'state', 'ageSeconds']);
    assert.equal(report.workers[0]!.ageSeconds, 2.5);
    const all = samples(renderMetrics(report));
    assert.deepEqual(
      ['booting', 'ready', 'stopping'].map((state) => sum(all, 'raas_workers', { state })),
      [1, 1, 2],
    );
  });
});
