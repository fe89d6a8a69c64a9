// Unit: keep-alive rebalancing in the master's duties, with an injected clock and fake workers.
// The heaviest ready worker is told to shed its excess over the mean once the total of open
// connections has held still for a beat; at most every 1.5 s; nothing for a fair split, while a
// burst is still landing, with `rebalance off`, or while a worker boots.
// Runs in: the test runner process.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MasterMessage, WorkerStats } from '../../src/ipc.js';
import { harness, type FakeWorker } from './master-harness.js';

function beat(worker: FakeWorker, openConnections: number): void {
  const stats: WorkerStats = { listeners: {}, inFlight: 0, openConnections, rss: 0, heapUsed: 0, elu: 0, loopDelayP99Ms: 0 };
  worker.events.message({ type: 'beat', stats });
}

const sheds = (w: FakeWorker): MasterMessage[] => w.messages.filter((m) => m.type === 'shed');

describe('rebalancing', () => {
  it('tells the heaviest worker to shed down to the mean, then waits 1.5 s before asking again', async () => {
    const h = harness({ settings: { timeout: 60 } });
    await h.tick();
    await h.readyAll();
    const [a, b] = h.spawned;
    beat(a!, 40);
    beat(b!, 10);
    await h.tick(100);
    assert.deepEqual(sheds(a!), [], 'the total just moved (0 -> 50)');
    await h.tick(1000);
    assert.deepEqual(sheds(a!), [{ type: 'shed', connections: 15, target: 25 }]);
    assert.deepEqual(sheds(b!), []);
    for (let t = 0; t < 13; t++) {
      beat(a!, 40);
      await h.tick(100);
    }
    assert.equal(sheds(a!).length, 1, 'not again within 1.5 s');
    await h.tick(300);
    assert.equal(sheds(a!).length, 2, 'asked again once 1.5 s passed with the split still uneven');
    beat(a!, 26);
    beat(b!, 24);
    await h.tick(3000);
    assert.equal(sheds(a!).length, 2, 'a fair split is left alone');
  });

  it('waits while a burst of connections is still landing: the split of a ramp is not the one to fix', async () => {
    const h = harness({ settings: { timeout: 60 } });
    await h.tick();
    await h.readyAll();
    const [a, b] = h.spawned;
    const split = async (x: number, y: number, ms: number): Promise<void> => {
      beat(a!, x);
      beat(b!, y);
      await h.tick(ms);
    };
    await split(13, 1, 1000);
    await split(30, 10, 1000);
    await split(35, 15, 1000);
    assert.deepEqual(sheds(a!), [], 'the total grew at every beat: 14, 40, 50');
    await split(36, 15, 600); // within a few of 50: the watch goes on
    assert.deepEqual(sheds(a!), []);
    await split(36, 15, 500);
    assert.deepEqual(sheds(a!), [{ type: 'shed', connections: 10, target: 26 }], 'held still for a beat');
  });

  it('rebalance off: never', async () => {
    const h = harness({ settings: { timeout: 60, rebalance: 'off' } });
    await h.tick();
    await h.readyAll();
    const [a, b] = h.spawned;
    beat(a!, 50);
    beat(b!, 0);
    await h.tick(3000);
    assert.deepEqual([...sheds(a!), ...sheds(b!)], []);
  });

  it('not while a slot is booting (a TTIN worker counts once it is ready)', async () => {
    const h = harness({ settings: { timeout: 60, workers: 1 } });
    await h.tick();
    await h.readyAll();
    const [a] = h.spawned;
    beat(a!, 20);
    await h.tick(100);
    await h.signal('SIGTTIN');
    await h.tick(100);
    const b = h.spawned[1]!;
    beat(a!, 20);
    await h.tick(3000);
    assert.deepEqual(sheds(a!), [], 'the second worker still boots');
    await h.readyAll();
    beat(a!, 20);
    beat(b, 0);
    await h.tick(100);
    assert.deepEqual(sheds(a!), [{ type: 'shed', connections: 10, target: 10 }]);
  });
});
