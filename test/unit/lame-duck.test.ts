// Unit: the master's lame-duck phase (src/master/lame-duck.ts) with an injected clock and
// launcher: TERM or QUIT first tells workers to fail health checks, the stop order follows S
// seconds later, a second TERM stops at once, replacements start lame.
// Runs in: the test runner process (no real processes).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SETTINGS, type Settings } from '../../src/config/settings.js';
import { EXIT } from '../../src/exit-codes.js';
import type { MasterMessage } from '../../src/ipc.js';
import { Logger } from '../../src/log.js';
import type { Launcher, SpawnRequest, WorkerEvents } from '../../src/master/launcher.js';
import { Master } from '../../src/master/master.js';

interface FakeWorker {
  request: SpawnRequest;
  events: WorkerEvents;
  signals: NodeJS.Signals[];
  messages: MasterMessage[];
}

function harness(overrides: Partial<Settings>) {
  let now = 1_000;
  const spawned: FakeWorker[] = [];
  const exits: number[] = [];
  const launcher: Launcher = {
    spawn(request, events) {
      const worker: FakeWorker = { request, events, signals: [], messages: [] };
      spawned.push(worker);
      return { pid: 100 + spawned.length, send: (m) => worker.messages.push(m), kill: (s) => worker.signals.push(s) };
    },
  };
  const values = Object.fromEntries(SETTINGS.map((s) => [s.key, typeof s.default === 'function' ? s.default() : s.default]));
  const settings = { ...(values as unknown as Settings), listen: [], workers: 2, timeout: 30, ...overrides };
  const master = new Master(settings, {}, [], {
    launcher,
    log: new Logger({ role: 'master' }, '/dev/null'),
    clock: () => now,
    loadConfig: () => Promise.reject(new Error('no config in this test')),
    bind: () => Promise.reject(new Error('no binding in this test')),
    exit: (code) => exits.push(code),
    pidFile: null,
    parentMaster: null,
    listenersFixed: false,
  });
  const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
  const tick = async (ms: number) => {
    now += ms;
    master.post({ kind: 'tick' });
    await settle();
  };
  const signal = async (signal: NodeJS.Signals) => {
    master.post({ kind: 'signal', signal });
    await settle();
  };
  const allReady = async () => {
    await tick(0);
    for (const w of spawned) w.events.message({ type: 'ready' });
    await settle();
  };
  return { spawned, exits, tick, signal, allReady };
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
