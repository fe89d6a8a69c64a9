// Unit: the master's lame-duck phase (src/master/stop/lame-duck.ts) with an injected clock and
// launcher: TERM or QUIT first tells workers to fail health checks, the stop order follows S
// seconds later, a second TERM stops at once, replacements start lame.
// Runs in: the test runner process (no real processes).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Settings } from '../../src/config/settings.js';
import { EXIT } from '../../src/exit-codes.js';
import { harness as masterHarness } from './master-harness.js';

function harness(overrides: Partial<Settings>) {
  const h = masterHarness({ settings: { workers: 2, timeout: 30, ...overrides } });
  const allReady = async () => {
    await h.tick(0);
    await h.readyAll();
  };
  return { spawned: h.spawned, exits: h.exits, tick: h.tick, signal: h.signal, allReady };
}

describe('lame duck', () => {
  it('TERM: workers are told to fail health checks, the stop order follows S seconds later, shutdown-timeout counts from then', async () => {
    const h = harness({ lameDuck: 2, shutdownTimeout: 1 });
    await h.allReady();
    await h.signal('SIGTERM');
    for (const w of h.spawned) {
      assert.deepEqual(w.messages, [{ type: 'lame-duck' }]);
      assert.deepEqual(w.signals, [], 'still serving');
    }
    for (let t = 0; t < 19; t++) await h.tick(100); // 1.9 s
    for (const w of h.spawned) assert.deepEqual(w.signals, []);
    await h.tick(200);
    for (const w of h.spawned) assert.deepEqual(w.signals, ['SIGQUIT']);
    await h.tick(900); // shutdown-timeout (1 s) runs from the stop order, not from TERM
    for (const w of h.spawned) assert.deepEqual(w.signals, ['SIGQUIT']);
    await h.tick(200);
    for (const w of h.spawned) assert.deepEqual(w.signals, ['SIGQUIT', 'SIGKILL']);
    for (const w of h.spawned) w.events.exit(null, 'SIGKILL');
    await h.tick(0);
    assert.deepEqual(h.exits, [EXIT.OK]);
  });

  it('a second TERM during lame duck stops at once', async () => {
    const h = harness({ lameDuck: 30 });
    await h.allReady();
    await h.signal('SIGTERM');
    await h.tick(100);
    await h.signal('SIGTERM');
    for (const w of h.spawned) assert.deepEqual(w.signals, ['SIGINT']);
  });

  it('INT during lame duck stops at once; a second QUIT changes nothing', async () => {
    const h = harness({ lameDuck: 1 });
    await h.allReady();
    await h.signal('SIGQUIT');
    await h.signal('SIGQUIT');
    for (const w of h.spawned) assert.deepEqual(w.signals, []);
    for (let t = 0; t < 11; t++) await h.tick(100);
    for (const w of h.spawned) assert.deepEqual(w.signals, ['SIGQUIT']);

    const i = harness({ lameDuck: 30 });
    await i.allReady();
    await i.signal('SIGQUIT');
    await i.signal('SIGINT');
    for (const w of i.spawned) assert.deepEqual(w.signals, ['SIGINT']);
  });

  it('a worker that dies during lame duck is replaced by one that starts lame', async () => {
    const h = harness({ lameDuck: 5 });
    await h.allReady();
    await h.signal('SIGTERM');
    h.spawned[0]!.events.exit(null, 'SIGKILL');
    await h.tick(100);
    const replacement = h.spawned[2]!;
    assert.equal(replacement.request.slot, 0);
    assert.equal(replacement.request.lameDuck, true);
    // Told again once ready, in case its boot missed the boot flag's window.
    replacement.events.message({ type: 'ready' });
    await h.tick(0);
    assert.deepEqual(replacement.messages, [{ type: 'lame-duck' }]);
    assert.equal(h.spawned[1]!.request.lameDuck, false);
  });

  it('lame-duck 0 (the default): TERM stops at once, as before', async () => {
    const h = harness({});
    await h.allReady();
    await h.signal('SIGTERM');
    for (const w of h.spawned) {
      assert.deepEqual(w.signals, ['SIGQUIT']);
      assert.deepEqual(w.messages, []);
    }
  });
});
