// A master under test: real Master, fake System (no processes, sockets or files), an injected
// clock, fake workers the test drives (ready, beat, exit), config loads the test resolves, and
// the master's log read back as entries.
// Runs in: the test runner process.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ResolvedConfig } from '../../src/config/load.js';
import { SETTINGS, type Settings } from '../../src/config/settings.js';
import type { MasterMessage } from '../../src/ipc.js';
import { Logger, parseLine } from '../../src/log.js';
import type { SpawnRequest, WorkerEvents } from '../../src/master/launcher.js';
import type { BoundListener } from '../../src/master/listeners/listeners.js';
import { Master } from '../../src/master/master.js';
import type { System } from '../../src/master/system.js';
import { fakeSystem, type FakeOs } from './fake-system.js';

export interface FakeWorker {
  request: SpawnRequest;
  events: WorkerEvents;
  pid: number;
  signals: NodeJS.Signals[];
  messages: MasterMessage[];
}

export function settings(overrides: Partial<Settings> = {}): Settings {
  const values = Object.fromEntries(SETTINGS.map((s) => [s.key, typeof s.default === 'function' ? s.default() : s.default]));
  return { ...(values as unknown as Settings), listen: [], ...overrides };
}

function resolvedWith(logFile: string, overrides: Partial<Settings>): ResolvedConfig {
  return { settings: settings({ logFile, ...overrides }), hooks: {}, sources: {} as ResolvedConfig['sources'] };
}

export function listener(name: string): BoundListener {
  return { protocol: 'line', spec: `line://${name}`, bound: `line://${name}`, unixPath: null, fd: 100, handle: null };
}

export interface HarnessOptions {
  settings?: Partial<Settings>;
  pidFile?: string | null;
  parentMaster?: number | null;
  listeners?: BoundListener[];
  /** More of the fake System (e.g. `random` for max-requests-jitter). */
  system?: Partial<System>;
}

export function harness(opts: HarnessOptions = {}) {
  let now = 1_000;
  let nextPid = 100;
  const spawned: FakeWorker[] = [];
  const exits: number[] = [];
  /** Each config load waits for the test: resolve or reject it, or leave it hanging. */
  const loads: Array<{ resolve: (c: ResolvedConfig) => void; reject: (e: Error) => void }> = [];
  const logFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'raas-unit-')), 'master.log');
  const fake: FakeOs = fakeSystem({
    ...opts.system,
    clock: () => now,
    exit: (code) => void exits.push(code),
    launcher: {
      spawn(request, events) {
        const worker: FakeWorker = { request, events, pid: nextPid++, signals: [], messages: [] };
        spawned.push(worker);
        return { pid: worker.pid, send: (m) => worker.messages.push(m), kill: (s) => worker.signals.push(s) };
      },
    },
  });
  const master = new Master(settings({ workers: 2, timeout: 2, logFile, ...opts.settings }), {}, opts.listeners ?? [], {
    system: fake.system,
    log: new Logger({ role: 'master' }, logFile),
    loadConfig: () => new Promise<ResolvedConfig>((resolve, reject) => loads.push({ resolve, reject })),
    pidFile: opts.pidFile ?? null,
    parentMaster: opts.parentMaster ?? null,
    listenersFixed: false,
  });
  /** Lets the inbox run its turns (scheduled with setImmediate; config loads resolve in between). */
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  };
  const tick = async (ms = 0): Promise<void> => {
    now += ms;
    master.post({ kind: 'tick' });
    await settle();
  };
  const signal = async (sig: NodeJS.Signals): Promise<void> => {
    master.post({ kind: 'signal', signal: sig });
    await settle();
  };
  /** Every worker spawned so far and not yet ready says it is. */
  const readyAll = async (): Promise<void> => {
    for (const w of spawned) if (!readied.has(w)) (readied.add(w), w.events.message({ type: 'ready' }));
    await tick();
  };
  const readied = new Set<FakeWorker>();
  const entries = () =>
    fs
      .readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map(parseLine);
  const events = (name: string) => entries().filter((e) => e.event === name);
  /** Workers of a generation still without an exit and without a stop signal. */
  const live = (gen?: number) =>
    spawned.filter((w) => !exited.has(w) && w.signals.length === 0 && (gen === undefined || w.request.generation === gen));
  const exited = new Set<FakeWorker>();
  const exit = async (w: FakeWorker, code: number | null, sig: NodeJS.Signals | null = null): Promise<void> => {
    exited.add(w);
    w.events.exit(code, sig);
    await settle();
  };
  /** A config as a reload would load it (logging on to the same file). */
  const resolved = (overrides: Partial<Settings> = {}): ResolvedConfig => resolvedWith(logFile, overrides);
  return { master, fake, resolved, spawned, exits, loads, settle, tick, signal, readyAll, events, live, exit, advance: (ms: number) => (now += ms) };
}
