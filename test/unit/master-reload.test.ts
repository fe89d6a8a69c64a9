// Unit: HUP reloads with an injected clock and fake workers: a reload rolls the generation; a
// HUP during a reload is queued (several coalesce) and runs after it; new workers that fail to
// boot, or miss boot-timeout, abort it and restore the previous generation; a config load that
// never ends is refused at its deadline; the status records which requests each reload covers.
// Runs in: the test runner process.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EXIT } from '../../src/exit-codes.js';
import { LOG } from '../../src/log.js';
import { harness } from './master-harness.js';

describe('reload state machine', () => {
  it('rolls every slot to a new generation, then retires the old workers', async () => {
    const h = harness({ settings: { timeout: 60 } });
    await h.tick();
    await h.readyAll();
    await h.signal('SIGHUP');
    assert.equal(h.master.reload.phase, 'loading');
    h.loads[0]!.resolve(h.resolved({ workers: 3, name: 'two' }));
    await h.tick();
    assert.equal(h.master.reload.phase, 'rolling');
    assert.deepEqual(h.spawned.slice(2).map((w) => [w.request.generation, w.request.slot, w.request.settings.name]), [
      [2, 0, 'two'],
      [2, 1, 'two'],
      [2, 2, 'two'],
    ]);
    await h.readyAll();
    assert.equal(h.master.reload.phase, 'idle');
    assert.deepEqual(h.spawned.slice(0, 2).map((w) => w.signals), [['SIGQUIT'], ['SIGQUIT']]);
    const s = h.master.reload.status;
    assert.deepEqual([s.requested, s.started, s.finished, s.done], [1, 1, 1, 1]);
    assert.deepEqual(s.history, [{ id: 1, covers: 1, outcome: 'done', error: null, generation: 2 }]);
  });

  it('queues HUPs that arrive during a reload, coalesces them, and runs one more reload after it', async () => {
    const h = harness({ settings: { timeout: 60 } });
    await h.tick();
    await h.readyAll();
    await h.signal('SIGHUP');
    await h.signal('SIGHUP'); // during loading
    assert.equal(h.events(LOG.RELOAD_QUEUED).length, 1);
    h.loads[0]!.resolve(h.resolved({ workers: 2 }));
    await h.tick();
    await h.signal('SIGHUP'); // during rolling: coalesces with the queued one
    assert.equal(h.loads.length, 1, 'nothing more loads while the first reload runs');
    await h.readyAll();
    assert.equal(h.master.reload.phase, 'loading', 'the queued reload began as the first ended');
    assert.equal(h.loads.length, 2);
    h.loads[1]!.resolve(h.resolved({ workers: 1 }));
    await h.tick();
    await h.readyAll();
    const s = h.master.reload.status;
    assert.deepEqual([s.requested, s.started, s.done], [3, 2, 2]);
    assert.deepEqual(s.history.map((r) => [r.covers, r.outcome, r.generation]), [
      [1, 'done', 2],
      [3, 'done', 3],
    ]);
    assert.equal(h.master.desired.target, 1);
  });

  it('aborts when new workers keep failing at boot: previous generation, settings and target come back', async () => {
    const h = harness({ settings: { timeout: 60 } });
    await h.tick();
    await h.readyAll();
    const before = h.master.desired.settings;
    await h.signal('SIGHUP');
    h.loads[0]!.resolve(h.resolved({ workers: 4, name: 'broken' }));
    await h.tick();
    for (let i = 0; i < 20 && h.master.reload.busy; i++) {
      for (const w of h.live(2)) await h.exit(w, EXIT.WORKER_BOOT_ERROR);
      await h.tick(500);
    }
    assert.equal(h.master.reload.phase, 'idle');
    const aborted = h.events(LOG.RELOAD_ABORTED);
    assert.equal(aborted.length, 1);
    assert.match(aborted[0]!.reason!, /failed to boot 3 times/);
    assert.equal(h.master.desired.generation, 1);
    assert.equal(h.master.desired.target, 2);
    assert.equal(h.master.desired.settings, before);
    assert.deepEqual(h.spawned.slice(0, 2).map((w) => w.signals), [[], []], 'the old workers never moved');
    assert.equal(h.master.reload.status.history.at(-1)!.outcome, 'aborted');
    assert.deepEqual(h.exits, [], 'an aborted reload never stops the master');
  });

  it('aborts a reload whose new workers miss boot-timeout (they are killed)', async () => {
    const h = harness({ settings: { bootTimeout: 5, timeout: 60 } });
    await h.tick();
    await h.readyAll();
    await h.signal('SIGHUP');
    h.loads[0]!.resolve(h.resolved({ workers: 2, bootTimeout: 5, timeout: 60 }));
    await h.tick();
    const fresh = h.live(2);
    assert.equal(fresh.length, 2);
    for (let t = 0; t < 60 && h.master.reload.busy; t++) await h.tick(100);
    assert.equal(h.events(LOG.RELOAD_ABORTED)[0]?.reason, 'boot-timeout');
    for (const w of fresh) assert.deepEqual(w.signals, ['SIGKILL']);
    assert.equal(h.master.desired.generation, 1);
  });

  it('refuses a config load that never ends at boot-timeout; the next HUP reloads', async () => {
    const h = harness({ settings: { bootTimeout: 3, timeout: 60 } });
    await h.tick();
    await h.readyAll();
    await h.signal('SIGHUP');
    await h.tick(2_900);
    assert.equal(h.master.reload.phase, 'loading');
    await h.tick(200);
    assert.equal(h.master.reload.phase, 'idle');
    const refused = h.events(LOG.RELOAD_REFUSED);
    assert.match(refused[0]!.error!, /did not finish loading within 3 s/);
    // It finishes after all: too late, ignored.
    h.loads[0]!.resolve(h.resolved({ workers: 5 }));
    await h.tick();
    assert.equal(h.master.desired.generation, 1);
    await h.signal('SIGHUP');
    h.loads[1]!.resolve(h.resolved({ workers: 1 }));
    await h.tick();
    await h.readyAll();
    assert.deepEqual(h.master.reload.status.history.map((r) => r.outcome), ['refused', 'done']);
    assert.equal(h.master.desired.target, 1);
  });

  it('a refused config leaves everything as it was; a stop refuses what is pending', async () => {
    const h = harness({ settings: { timeout: 60 } });
    await h.tick();
    await h.readyAll();
    await h.signal('SIGHUP');
    await h.signal('SIGHUP');
    h.loads[0]!.reject(new Error('not valid JSON'));
    await h.tick();
    assert.equal(h.master.reload.phase, 'loading', 'the queued HUP runs after the refusal');
    await h.signal('SIGQUIT');
    const s = h.master.reload.status;
    assert.deepEqual(s.history.map((r) => [r.outcome, r.error]), [
      ['refused', 'not valid JSON'],
      ['refused', 'the master is stopping'],
    ]);
    await h.signal('SIGHUP');
    assert.equal(h.loads.length, 2, 'no reload while stopping');
    assert.deepEqual(h.master.reload.status.history.at(-1), { id: 3, covers: 3, outcome: 'refused', error: 'the master is stopping', generation: 1 });
  });

  it('Desired is a value: a reload installs a new one and leaves the old one as it was', async () => {
    const h = harness({ settings: { timeout: 60 } });
    await h.tick();
    await h.readyAll();
    const first = h.master.desired;
    assert.ok(Object.isFrozen(first));
    await h.signal('SIGTTIN');
    const scaled = h.master.desired;
    assert.notEqual(scaled, first);
    assert.deepEqual([first.target, scaled.target, scaled.generation], [2, 3, 1]);
    await h.signal('SIGHUP');
    h.loads[0]!.resolve(h.resolved({ workers: 1 }));
    await h.tick();
    assert.deepEqual([h.master.desired.generation, h.master.desired.target], [2, 1]);
    assert.deepEqual([scaled.generation, scaled.target], [1, 3], 'the value the reload replaced did not change');
  });

  it('a HUP queued behind a reload that aborts begins from the restored Desired, not the abandoned one', async () => {
    const h = harness({ settings: { timeout: 60 } });
    await h.tick();
    await h.readyAll();
    await h.signal('SIGHUP');
    h.loads[0]!.resolve(h.resolved({ workers: 3, name: 'broken' }));
    await h.tick();
    await h.signal('SIGHUP'); // queued while gen 2 rolls
    for (let i = 0; i < 20 && h.loads.length === 1; i++) {
      for (const w of h.live(2)) await h.exit(w, EXIT.WORKER_BOOT_ERROR);
      await h.tick(500);
    }
    assert.equal(h.events(LOG.RELOAD_ABORTED).length, 1);
    assert.equal(h.loads.length, 2, 'the queued reload began');
    assert.deepEqual([h.master.desired.generation, h.master.desired.target, h.master.desired.settings.name], [1, 2, 'RAAS']);
    h.loads[1]!.resolve(h.resolved({ workers: 1 }));
    await h.tick();
    assert.equal(h.master.desired.generation, 2, 'numbered after the restored generation');
    await h.readyAll();
    assert.deepEqual(h.master.reload.status.history.map((r) => [r.outcome, r.generation]), [
      ['aborted', 1],
      ['done', 2],
    ]);
  });

  it('a stop during a rolling reload: the new generation stops too, the reload ends aborted, the master exits once all are gone', async () => {
    const h = harness({ settings: { timeout: 60, shutdownTimeout: 5 } });
    await h.tick();
    await h.readyAll();
    await h.signal('SIGHUP');
    h.loads[0]!.resolve(h.resolved({ workers: 2 }));
    await h.tick();
    const booting = h.live(2);
    assert.equal(booting.length, 2);
    await h.signal('SIGTERM');
    for (const w of h.spawned) assert.deepEqual(w.signals, ['SIGQUIT'], `worker ${w.pid} gen ${w.request.generation}`);
    assert.deepEqual(h.master.reload.status.history.map((r) => [r.outcome, r.error]), [['aborted', 'the master is stopping']]);
    await h.tick(100);
    assert.equal(h.spawned.length, 4, 'nothing respawns while stopping');
    for (const w of h.spawned) await h.exit(w, 0);
    await h.tick();
    assert.deepEqual(h.exits, [EXIT.OK]);
  });
});
