// Unit: the master loop's decisions with an injected clock and launcher, no real processes:
// who is spawned, who is killed for silence and who is forgiven, when it gives up.
// Runs in: the test runner process.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SETTINGS, type Settings } from '../../src/config/settings.js';
import { EXIT } from '../../src/exit-codes.js';
import type { MasterMessage } from '../../src/ipc.js';
import { Logger } from '../../src/log.js';
import type { Launcher, SpawnRequest, WorkerEvents } from '../../src/master/launcher.js';
import { Master } from '../../src/master/master.js';
import { fakeSystem } from './fake-system.js';

interface FakeWorker {
  request: SpawnRequest;
  events: WorkerEvents;
  pid: number;
  signals: NodeJS.Signals[];
  messages: MasterMessage[];
}

function settings(overrides: Partial<Settings>): Settings {
  const values = Object.fromEntries(SETTINGS.map((s) => [s.key, typeof s.default === 'function' ? s.default() : s.default]));
  return { ...(values as unknown as Settings), listen: [], ...overrides };
}

function harness(overrides: Partial<Settings> = {}) {
  let now = 1_000;
  let nextPid = 100;
  const spawned: FakeWorker[] = [];
  const exits: number[] = [];
  const launcher: Launcher = {
    spawn(request, events) {
      const worker: FakeWorker = { request, events, pid: nextPid++, signals: [], messages: [] };
      spawned.push(worker);
      return { pid: worker.pid, send: (m) => worker.messages.push(m), kill: (s) => worker.signals.push(s) };
    },
  };
  const master = new Master(settings({ workers: 2, timeout: 2, ...overrides }), {}, [], {
    system: fakeSystem({ launcher, clock: () => now, exit: (code) => exits.push(code) }).system,
    log: new Logger({ role: 'master' }, '/dev/null'),
    loadConfig: () => Promise.reject(new Error('no config in this test')),
    pidFile: null,
    parentMaster: null,
    listenersFixed: false,
  });
  /** Lets the inbox run its turn (it is scheduled with setImmediate). */
  const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
  const tick = async (ms: number) => {
    now += ms;
    master.post({ kind: 'tick' });
    await settle();
  };
  return { master, spawned, exits, settle, tick, advance: (ms: number) => (now += ms) };
}

describe('master loop', () => {
  it('spawns one worker per slot and replaces a dead one in the same slot', async () => {
    const h = harness();
    await h.tick(0);
    assert.deepEqual(h.spawned.map((w) => w.request.slot), [0, 1]);
    for (const w of h.spawned) w.events.message({ type: 'ready' });
    await h.settle();
    h.spawned[1]!.events.exit(null, 'SIGKILL');
    await h.tick(10);
    assert.equal(h.spawned.length, 3);
    assert.equal(h.spawned[2]!.request.slot, 1);
  });

  it('kills a ready worker silent longer than timeout, but not one whose beat came in the same turn', async () => {
    const h = harness();
    await h.tick(0);
    const [a, b] = h.spawned as [FakeWorker, FakeWorker];
    a.events.message({ type: 'ready' });
    b.events.message({ type: 'ready' });
    await h.tick(100);
    for (let t = 0; t < 25; t++) {
      b.events.message({ type: 'beat' }); // b beats every 100 ms, a never again
      await h.tick(100);
    }
    assert.deepEqual(a.signals, ['SIGKILL']);
    assert.deepEqual(b.signals, []);
    // The beat that arrives in the same batch as the tick that would have been too late counts.
    h.advance(2_500);
    b.events.message({ type: 'beat' });
    h.master.post({ kind: 'tick' });
    await h.settle();
    assert.deepEqual(b.signals, []);
  });

  it('forgives every worker after the master itself was stalled', async () => {
    const h = harness();
    await h.tick(0);
    for (const w of h.spawned) w.events.message({ type: 'ready' });
    await h.tick(100);
    await h.tick(5_000); // the master was stopped for 5 s: no beat could be read
    await h.tick(100);
    for (const w of h.spawned) assert.deepEqual(w.signals, []);
    for (let t = 0; t < 22; t++) await h.tick(100); // but silence after the stall still counts
    assert.deepEqual(h.spawned.slice(0, 2).map((w) => w.signals), [['SIGKILL'], ['SIGKILL']]);
    // Their slots are refilled at once; the killed processes are reaped when they exit.
    assert.deepEqual(h.spawned.slice(2).map((w) => w.request.slot), [0, 1]);
  });

  it('backs off between boot failures and gives up after five with no worker ready', async () => {
    const h = harness({ workers: 1 });
    await h.tick(0);
    const spawnTimes: number[] = [];
    let clock = 0;
    for (let round = 0; round < 40 && h.exits.length === 0; round++) {
      const last = h.spawned.at(-1)!;
      if (spawnTimes.length < h.spawned.length) {
        spawnTimes.push(clock);
        last.events.exit(EXIT.WORKER_BOOT_ERROR, null);
      }
      await h.tick(50);
      clock += 50;
    }
    assert.equal(h.spawned.length, 5);
    assert.deepEqual(h.exits, [EXIT.WORKERS_CANNOT_BOOT]);
    const gaps = spawnTimes.slice(1).map((t, i) => t - spawnTimes[i]!);
    assert.ok(gaps.every((g, i) => i === 0 || g >= gaps[i - 1]!), `gaps grow: ${gaps.join(',')}`);
    assert.ok(gaps.at(-1)! >= 800, `gaps: ${gaps.join(',')}`);
  });

  it('TERM stops gracefully, then kills what is left at shutdown-timeout, and exits only when all are gone', async () => {
    const h = harness({ shutdownTimeout: 1 });
    await h.tick(0);
    for (const w of h.spawned) w.events.message({ type: 'ready' });
    await h.settle();
    h.master.post({ kind: 'signal', signal: 'SIGTERM' });
    await h.settle();
    for (const w of h.spawned) assert.deepEqual(w.signals, ['SIGQUIT']);
    h.spawned[0]!.events.exit(0, null);
    await h.tick(1_100);
    assert.deepEqual(h.spawned[1]!.signals, ['SIGQUIT', 'SIGKILL']);
    assert.deepEqual(h.exits, []);
    h.spawned[1]!.events.exit(null, 'SIGKILL');
    await h.settle();
    assert.deepEqual(h.exits, [EXIT.OK]);
  });
});

describe('master loop errors', () => {
  it('survives a duty that throws, logs it, and stops with MASTER_UNSOUND when it keeps throwing', async () => {
    let now = 1_000;
    const exits: number[] = [];
    let spawnCalls = 0;
    const logFile = `/tmp/raas-unit-loop-${process.pid}.log`;
    const { readFileSync, rmSync } = await import('node:fs');
    const master = new Master(settings({ workers: 1, timeout: 2, shutdownTimeout: 1 }), {}, [], {
      system: fakeSystem({
        launcher: {
          spawn() {
            spawnCalls += 1;
            throw new Error('spawn EMFILE'); // child_process.spawn throws synchronously on some errors
          },
        },
        clock: () => now,
        exit: (code) => exits.push(code),
      }).system,
      log: new Logger({ role: 'master' }, logFile),
      loadConfig: () => Promise.reject(new Error('no config in this test')),
      pidFile: null,
      parentMaster: null,
      listenersFixed: false,
    });
    const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
    try {
      for (let i = 0; i < 4; i++) {
        master.post({ kind: 'tick' });
        await settle();
        now += 100;
      }
      assert.deepEqual(exits, [], 'four errors: the master carries on');
      // A signal posted behind a failing turn is still handled.
      master.post({ kind: 'signal', signal: 'SIGTTIN' });
      master.post({ kind: 'tick' });
      await settle();
      assert.deepEqual(exits, [], 'the fifth error orders a graceful stop');
      master.post({ kind: 'tick' });
      await settle();
      assert.deepEqual(exits, [EXIT.MASTER_UNSOUND]);
      const log = readFileSync(logFile, 'utf8');
      assert.equal(log.match(/event=master-loop-error during=duties/g)?.length, 5);
      assert.match(log, /event=scale from=1 to=2/);
      assert.match(log, /event=master-unsound/);
      assert.equal(spawnCalls, 5);
    } finally {
      rmSync(logFile, { force: true });
    }
  });
});
