// Unit: TTIN/TTOU and WINCH with an injected clock, and the bound on every drain
// (`worker-shutdown-timeout`): a worker retired by TTOU, WINCH or a reload, or retiring after a
// crash, is killed once it has drained that long, and the log says how many connections it cut.
// Runs in: the test runner process.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WorkerStats } from '../../src/ipc.js';
import { LOG } from '../../src/log.js';
import { harness } from './master-harness.js';

function stats(openConnections: number): WorkerStats {
  return { listeners: {}, inFlight: openConnections, openConnections, rss: 0, heapUsed: 0, elu: 0, loopDelayP99Ms: 0 };
}

describe('scaling and drains', () => {
  it('TTIN adds a slot, TTOU retires the highest slot gracefully', async () => {
    const h = harness({ settings: { timeout: 60 } });
    await h.tick();
    await h.readyAll();
    await h.signal('SIGTTIN');
    await h.tick();
    assert.deepEqual(h.spawned.map((w) => w.request.slot), [0, 1, 2]);
    await h.readyAll();
    await h.signal('SIGTTOU');
    await h.signal('SIGTTOU');
    await h.tick();
    assert.deepEqual(h.spawned.map((w) => w.signals), [[], ['SIGQUIT'], ['SIGQUIT']]);
    assert.equal(h.master.desired.target, 1);
    assert.equal(h.spawned.length, 3, 'nothing respawned');
  });

  it('a drain longer than worker-shutdown-timeout ends in SIGKILL, with the connections it cut', async () => {
    const h = harness({ settings: { timeout: 60, workerShutdownTimeout: 5 } });
    await h.tick();
    await h.readyAll();
    const [, second] = h.spawned;
    second!.events.message({ type: 'beat', stats: stats(3) });
    await h.signal('SIGTTOU');
    await h.tick();
    assert.deepEqual(second!.signals, ['SIGQUIT']);
    for (let t = 0; t < 49; t++) await h.tick(100);
    assert.deepEqual(second!.signals, ['SIGQUIT'], 'still within the bound');
    await h.tick(200);
    assert.deepEqual(second!.signals, ['SIGQUIT', 'SIGKILL']);
    const cut = h.events(LOG.WORKER_DRAIN_TIMEOUT);
    assert.deepEqual(cut.map((e) => [e.worker_pid, e.connections_cut]), [[String(second!.pid), '3']]);
    await h.exit(second!, null, 'SIGKILL');
    assert.equal(h.events(LOG.WORKER_EXIT).at(-1)?.reason, 'drain-timeout');
  });

  it('a worker retiring after a crash is replaced at once and killed if its drain never ends', async () => {
    const h = harness({ settings: { timeout: 60, workerShutdownTimeout: 2 } });
    await h.tick();
    await h.readyAll();
    const [first] = h.spawned;
    first!.events.message({ type: 'retiring', reason: 'uncaughtException' });
    await h.tick();
    assert.equal(h.spawned.length, 3, 'its replacement is spawned at once');
    for (let t = 0; t < 25; t++) {
      first!.events.message({ type: 'beat' }); // it keeps beating: a client trickles
      await h.tick(100);
    }
    assert.deepEqual(first!.signals, ['SIGKILL']);
    assert.equal(h.events(LOG.WORKER_DRAIN_TIMEOUT)[0]?.connections_cut, 'unknown');
  });

  it('WINCH: ignored with a controlling terminal; otherwise every worker drains and TTIN brings one back', async () => {
    const h = harness({ settings: { timeout: 60 } });
    await h.tick();
    await h.readyAll();
    h.fake.tty = true;
    await h.signal('SIGWINCH');
    assert.equal(h.master.desired.target, 2);
    assert.deepEqual(h.spawned.map((w) => w.signals), [[], []]);
    h.fake.tty = false;
    await h.signal('SIGWINCH');
    await h.tick();
    assert.equal(h.master.desired.target, 0);
    assert.deepEqual(h.spawned.map((w) => w.signals), [['SIGQUIT'], ['SIGQUIT']]);
    assert.equal(h.events(LOG.WORKERS_STOPPED).length, 1);
    for (const w of h.spawned.slice(0, 2)) await h.exit(w, 0);
    await h.signal('SIGTTIN');
    await h.tick();
    assert.deepEqual(h.spawned.slice(2).map((w) => w.request.slot), [0]);
  });

  it('QUIT: every drain is bounded too, and the master exits once the last worker is gone', async () => {
    const h = harness({ settings: { timeout: 60, workerShutdownTimeout: 1 } });
    await h.tick();
    await h.readyAll();
    await h.signal('SIGQUIT');
    await h.tick(1_100);
    for (const w of h.spawned) assert.deepEqual(w.signals, ['SIGQUIT', 'SIGKILL']);
    assert.deepEqual(h.exits, []);
    for (const w of h.spawned) await h.exit(w, null, 'SIGKILL');
    await h.tick();
    assert.deepEqual(h.exits, [0]);
  });
});
