// Unit: the master under signal storms. A booting worker that died of a signal it would have
// caught, had it reached its first instruction, is no app crash: respawned at once, never counted
// towards the crash-loop halt. A burst of USR1 reopens the logs once per turn, not once per signal.
// Runs in: the test runner process (real Master, fake System and clock; master-harness.ts).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LOG } from '../../src/log.js';
import { harness } from './master-harness.js';

describe('workers signalled before their first instruction', () => {
  it('are respawned at once and never count as boot failures; a crash still backs off', async () => {
    const h = harness({ settings: { workers: 1 } });
    await h.tick();
    // A USR1 storm for the master's process group catches one new worker after another between fork and setsid.
    for (let i = 0; i < 8; i++) {
      await h.exit(h.spawned.at(-1)!, null, 'SIGUSR1');
      await h.tick(1);
    }
    assert.equal(h.spawned.length, 9, 'each death respawned within a millisecond: no back-off');
    assert.deepEqual(h.exits, []);
    assert.equal(h.events(LOG.WORKER_BOOT_FAILED).length, 0);
    assert.equal(h.events(LOG.WORKER_SIGNALLED_EARLY).length, 8);
    // A crash (a signal no worker handler catches, or an exit code) still counts and backs off.
    await h.exit(h.spawned.at(-1)!, null, 'SIGSEGV');
    await h.tick(1);
    assert.equal(h.events(LOG.WORKER_BOOT_FAILED).length, 1);
    assert.equal(h.spawned.length, 9, 'the crash backs off');
    await h.tick(150);
    assert.equal(h.spawned.length, 10);
  });

  it('a stop order the master sent is not mistaken for an early signal', async () => {
    const h = harness({ settings: { workers: 1 } });
    await h.tick();
    await h.signal('SIGTTOU');
    const [w] = h.spawned;
    assert.deepEqual(w!.signals, ['SIGQUIT']);
    await h.exit(w!, null, 'SIGQUIT');
    assert.equal(h.events(LOG.WORKER_SIGNALLED_EARLY).length, 0);
  });

  it('a burst of USR1 in one turn reopens the logs once and tells each worker once', async () => {
    const h = harness({ settings: { workers: 2 } });
    await h.tick();
    await h.readyAll();
    for (let i = 0; i < 20; i++) h.master.post({ kind: 'signal', signal: 'SIGUSR1' });
    await h.settle();
    assert.equal(h.events(LOG.LOGS_REOPENED).length, 1);
    for (const w of h.spawned) assert.equal(w.messages.filter((m) => m.type === 'reopen-logs').length, 1);
    await h.signal('SIGUSR1');
    assert.equal(h.events(LOG.LOGS_REOPENED).length, 2, 'a later USR1 reopens again');
  });
});
