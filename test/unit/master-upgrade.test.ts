// Unit: USR2 upgrades over a fake System: the pid file moves to `.oldbin`, and returns whenever
// the successor dies (before it was ready, or after, killed); a second USR2 while a successor
// lives is ignored; a new master refuses USR2 while its parent runs and forgets the parent once
// re-parented; a stop leaves shared sockets alone.
// Runs in: the test runner process.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LOG } from '../../src/log.js';
import { harness, listener } from './master-harness.js';

const PID_FILE = '/run/raas.pid';
const OLDBIN = `${PID_FILE}.oldbin`;

async function serving(opts: Parameters<typeof harness>[0] = {}) {
  const h = harness({ pidFile: PID_FILE, ...opts });
  h.fake.files.set(PID_FILE, process.pid);
  await h.tick();
  await h.readyAll();
  return h;
}

describe('upgrade (USR2)', () => {
  it('a successor that dies after it was ready: the pid file names us again (reexec-lost)', async () => {
    const h = await serving();
    await h.signal('SIGUSR2');
    const [successor] = h.fake.successors;
    assert.ok(successor);
    assert.deepEqual([h.fake.files.get(PID_FILE), h.fake.files.get(OLDBIN)], [undefined, process.pid]);
    h.fake.files.set(PID_FILE, successor.pid); // the new master claims the pid file
    successor.events.ready(successor.pid);
    await h.tick();
    assert.deepEqual(h.master.upgrade.successorSnapshot(), { pid: successor.pid, ready: true });
    await h.signal('SIGUSR2');
    assert.equal(h.fake.successors.length, 1, 'a second USR2 while a successor lives starts nothing');
    assert.equal(h.events(LOG.REEXEC_IGNORED).length, 1);

    successor.running = false;
    successor.events.exit(successor.pid, null, 'SIGKILL');
    await h.tick();
    assert.deepEqual([h.fake.files.get(PID_FILE), h.fake.files.get(OLDBIN)], [process.pid, undefined]);
    assert.equal(h.events(LOG.REEXEC_LOST).length, 1);
    assert.deepEqual(h.master.upgrade.counts, { started: 1, failed: 0, lost: 1 });
    assert.equal(h.master.upgrade.successorSnapshot(), null);
  });

  it('a successor that dies before it is ready: reexec-failed, pid file restored, workers untouched', async () => {
    const h = await serving();
    await h.signal('SIGUSR2');
    const [successor] = h.fake.successors;
    successor!.running = false;
    successor!.events.exit(successor!.pid, 2, null);
    await h.tick();
    assert.equal(h.fake.files.get(PID_FILE), process.pid);
    assert.equal(h.fake.files.has(OLDBIN), false);
    assert.equal(h.master.upgrade.counts.failed, 1);
    for (const w of h.spawned) assert.deepEqual(w.signals, []);
  });

  it('a stop while a successor lives closes no socket; without one it closes them at once', async () => {
    const sockets = [listener('127.0.0.1:1'), listener('unix:/tmp/s.sock')];
    const h = await serving({ listeners: sockets });
    await h.signal('SIGUSR2');
    await h.signal('SIGQUIT');
    for (const w of h.spawned) w.events.exit(0, null);
    await h.tick();
    assert.deepEqual(h.exits, [0]);
    assert.deepEqual(h.fake.closed, [], 'the successor serves from them');

    const alone = await serving({ listeners: sockets });
    await alone.signal('SIGQUIT');
    assert.deepEqual(alone.fake.closed, sockets, 'closed as the stop begins, before any worker left');
    assert.deepEqual(alone.exits, []);
  });

  it('a new master refuses USR2 while its parent runs, and accepts it once re-parented', async () => {
    const parent = 4_242;
    const h = harness({ pidFile: PID_FILE, parentMaster: parent });
    h.fake.parentPid = parent;
    h.fake.liveMasters.add(parent);
    h.fake.files.set(OLDBIN, parent);
    h.fake.files.set(PID_FILE, process.pid);
    await h.tick();
    await h.readyAll();
    assert.equal(h.fake.notifiedParent, 1, 'told the old master it is ready');
    await h.signal('SIGUSR2');
    assert.equal(h.fake.successors.length, 0);
    assert.equal(h.events(LOG.REEXEC_REFUSED)[0]?.old_master_pid, String(parent));
    assert.equal(h.fake.files.get(OLDBIN), parent, '.oldbin still names the old master');

    // The old master exits: we are re-parented (and its pid may be reused by anyone).
    h.fake.parentPid = 1;
    await h.tick(100);
    assert.equal(h.master.upgrade.parentPid, null);
    assert.equal(h.events(LOG.OLD_MASTER_GONE).length, 1);
    await h.signal('SIGUSR2');
    assert.equal(h.fake.successors.length, 1);
  });

  it('auto hand-over: the new master quits its parent once all its workers are ready', async () => {
    const parent = 4_343;
    const h = harness({ parentMaster: parent, settings: { upgradeHandover: 'auto' } });
    h.fake.parentPid = parent;
    await h.tick();
    assert.deepEqual(h.fake.signalsSent, []);
    await h.readyAll();
    assert.deepEqual(h.fake.signalsSent, [[parent, 'SIGQUIT']]);
  });

  it('rollback: after USR2 and WINCH, HUP brings the old master\'s workers back and the successor\'s exit restores its pid file', async () => {
    const h = await serving({ settings: { timeout: 60 } });
    await h.signal('SIGUSR2');
    const [successor] = h.fake.successors;
    h.fake.files.set(PID_FILE, successor!.pid);
    successor!.events.ready(successor!.pid);
    await h.tick();
    await h.signal('SIGWINCH'); // the old master's workers drain; the new master serves
    assert.equal(h.master.desired.target, 0);
    for (const w of h.spawned) {
      assert.deepEqual(w.signals, ['SIGQUIT']);
      await h.exit(w, 0);
    }
    await h.tick();
    // Back out: HUP to the old master (workers again, as configured), then the new master goes.
    await h.signal('SIGHUP');
    h.loads[0]!.resolve(h.resolved({ workers: 2 }));
    await h.tick();
    await h.readyAll();
    assert.deepEqual([h.master.desired.generation, h.master.desired.target], [2, 2]);
    assert.equal(h.live(2).length, 2);
    successor!.running = false;
    successor!.events.exit(successor!.pid, 0, null);
    await h.tick();
    assert.deepEqual([h.fake.files.get(PID_FILE), h.fake.files.get(OLDBIN)], [process.pid, undefined]);
    assert.equal(h.master.upgrade.successorSnapshot(), null);
    assert.deepEqual(h.exits, []);
  });
});
