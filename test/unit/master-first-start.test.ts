// Unit: the crash-loop halt with an injected clock and launcher. At the first start a master gives
// up after one boot-timeout (not five), once a boot has failed; after any worker was ready it keeps
// the five-failures rule; the halt line and the master's last line repeat the first boot error.
// Runs in: the test runner process.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EXIT } from '../../src/exit-codes.js';
import { LOG } from '../../src/log.js';
import { harness } from './master-harness.js';

/** Lets `ms` pass in ticks of 500 ms (a longer gap would be a master stall, which forgives booting workers). */
async function pass(h: ReturnType<typeof harness>, ms: number): Promise<void> {
  for (let left = ms; left > 0; left -= 500) await h.tick(Math.min(500, left));
}

describe('crash-loop halt', () => {
  it('first start: a worker killed at boot-timeout stops the master at once, naming it', async () => {
    const h = harness({ settings: { workers: 1, bootTimeout: 5, timeout: 60 } });
    await h.tick(0);
    assert.equal(h.spawned.length, 1);
    await pass(h, 5_001);
    assert.deepEqual(h.spawned[0]!.signals, ['SIGKILL']);
    await h.exit(h.spawned[0]!, null, 'SIGKILL');
    await h.tick(0);
    // Its slot was refilled at the kill; that worker is stopped, not waited for.
    assert.equal(h.spawned.length, 2);
    assert.deepEqual(h.spawned[1]!.signals, ['SIGINT']);
    await h.exit(h.spawned[1]!, 0);
    assert.deepEqual(h.exits, [EXIT.WORKERS_CANNOT_BOOT]);
    const [halt] = h.events(LOG.WORKERS_CANNOT_BOOT);
    assert.equal(halt?.rule, 'first-start');
    assert.match(halt?.first_error ?? '', /not ready within boot-timeout \(5 s\)/);
  });

  it('first start: failures that come fast are retried until boot-timeout has passed since the first spawn', async () => {
    const h = harness({ settings: { workers: 1, bootTimeout: 3, timeout: 60 } });
    await h.tick(0);
    h.spawned[0]!.events.message({ type: 'boot-failed', error: 'Error: no database (at file:///app.mjs:3:7)' });
    await h.exit(h.spawned[0]!, EXIT.WORKER_BOOT_ERROR);
    await h.tick(500);
    assert.equal(h.spawned.length, 2, 'retried after the back-off');
    assert.deepEqual(h.exits, []);
    await h.exit(h.spawned[1]!, EXIT.WORKER_BOOT_ERROR); // this one said nothing before it exited
    await pass(h, 2_600); // 3.1 s after the first spawn
    assert.equal(h.spawned.length, 3);
    assert.deepEqual(h.spawned[2]!.signals, ['SIGINT'], 'the third attempt is stopped');
    await h.exit(h.spawned[2]!, 0);
    assert.deepEqual(h.exits, [EXIT.WORKERS_CANNOT_BOOT]);
    const [halt] = h.events(LOG.WORKERS_CANNOT_BOOT);
    assert.equal(halt?.rule, 'first-start');
    assert.equal(halt?.failures, '2');
    assert.equal(halt?.first_error, 'Error: no database (at file:///app.mjs:3:7)');
    const last = h.events(LOG.STOPPED).at(-1);
    assert.equal(last?.level, 'error');
    assert.equal(last?.first_error, 'Error: no database (at file:///app.mjs:3:7)');
    assert.equal(last?.why, 'workers-cannot-boot');
  });

  it('once a worker was ready, a boot-timeout is retried: five failures in a row with none ready stop it', async () => {
    const h = harness({ settings: { workers: 1, bootTimeout: 2, timeout: 60 } });
    await h.tick(0);
    await h.readyAll();
    await h.exit(h.spawned[0]!, 1); // the serving worker died
    // Every replacement hangs at boot: killed at boot-timeout, respawned after the back-off.
    const gone = new Set([h.spawned[0]]);
    for (let step = 0; step < 200 && h.exits.length === 0; step++) {
      await pass(h, 500);
      for (const w of h.spawned) {
        if (gone.has(w) || w.signals.length === 0) continue;
        gone.add(w);
        await (w.signals.includes('SIGKILL') ? h.exit(w, null, 'SIGKILL') : h.exit(w, 0));
      }
    }
    assert.deepEqual(h.exits, [EXIT.WORKERS_CANNOT_BOOT]);
    assert.equal(h.events(LOG.WORKER_BOOT_TIMEOUT).length, 5, 'five boot-timeouts, not one');
    const [halt] = h.events(LOG.WORKERS_CANNOT_BOOT);
    assert.equal(halt?.rule, 'failures');
    assert.match(halt?.first_error ?? '', /boot-timeout/);
  });

  it('a slow first boot that becomes ready within boot-timeout is no failure', async () => {
    const h = harness({ settings: { workers: 2, bootTimeout: 4, timeout: 60 } });
    await h.tick(0);
    await pass(h, 3_900);
    await h.readyAll();
    await pass(h, 10_000);
    assert.deepEqual(h.exits, []);
    assert.equal(h.events(LOG.WORKERS_CANNOT_BOOT).length, 0);
  });
});
