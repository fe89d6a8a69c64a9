// Unit: what the admin /healthz answers for each state of the master's snapshot (src/admin/health.ts).
// Runs in: the test runner process.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { healthOf } from '../../src/admin/health.js';
import type { MasterStatus } from '../../src/master/files/status-file.js';
import type { WorkerRow } from '../../src/master/stats/snapshot.js';

function status(over: Partial<MasterStatus>, workers: Array<Partial<WorkerRow>> = []): MasterStatus {
  return {
    pid: 1,
    name: 'raas',
    phase: 'running',
    ready: false,
    generation: 2,
    target: 2,
    workers: workers.map((w, slot) => ({ slot, pid: 100 + slot, generation: 2, state: 'ready', ...w })),
    reloads: {} as MasterStatus['reloads'],
    successor: null,
    upgrades: { started: 0, failed: 0, lost: 0 },
    ...over,
  };
}

const verdict = (s: MasterStatus): [boolean, string] => {
  const h = healthOf(s);
  return [h.ok, h.reason];
};

describe('admin /healthz verdict', () => {
  it('200 with one ready worker of the current generation, 503 with none', () => {
    assert.deepEqual(verdict(status({}, [{ state: 'ready' }, { state: 'booting' }])), [true, 'ready']);
    assert.deepEqual(verdict(status({}, [{ state: 'booting' }, { state: 'stopping' }])), [false, 'no-worker-ready']);
    assert.deepEqual(verdict(status({}, [])), [false, 'no-worker-ready']);
  });

  it('during a HUP the old generation still serving counts; an aborted (newer) one does not', () => {
    const rolling = status({}, [{ generation: 1 }, { generation: 2, state: 'booting' }]);
    assert.deepEqual(verdict(rolling), [true, 'ready']);
    assert.deepEqual([healthOf(rolling).readyWorkers, healthOf(rolling).readyPrevious], [0, 1]);
    assert.deepEqual(verdict(status({}, [{ generation: 3 }])), [false, 'no-worker-ready']);
  });

  it('503 in lame duck and while stopping, whatever the workers', () => {
    assert.deepEqual(verdict(status({ phase: 'lame-duck' }, [{}, {}])), [false, 'lame-duck']);
    assert.deepEqual(verdict(status({ phase: 'stopping' }, [{}, {}])), [false, 'stopping']);
  });

  it('a ready USR2 successor serves from our sockets: 200 while we drain or sit WINCHed', () => {
    assert.deepEqual(verdict(status({ phase: 'stopping', successor: { pid: 9, ready: true } })), [true, 'successor']);
    assert.deepEqual(verdict(status({ successor: { pid: 9, ready: true } })), [true, 'successor']);
    assert.deepEqual(verdict(status({ phase: 'stopping', successor: { pid: 9, ready: false } })), [false, 'stopping']);
  });
});
