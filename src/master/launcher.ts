// Starts worker processes: a fresh Node process per worker (Node has no fork(2)) with the
// listening sockets as inherited fds, an IPC channel, and its boot configuration.
// Runs in: master. The master loop depends only on the Launcher interface, so tests can
// replace it.

import { spawn } from 'node:child_process';
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { workerNodeArgs } from '../config/node-args.js';
import type { Settings } from '../config/settings.js';
import {
  heartbeatInterval,
  isWorkerMessage,
  WORKER_CONFIG_ENV,
  type MasterMessage,
  type WorkerBootConfig,
  type WorkerListener,
  type WorkerMessage,
} from '../ipc.js';
import { parseListenAddress, type ListenAddress } from '../config/listen-address.js';
import { titleCapacity, workerTitle } from '../process-title.js';
import type { BoundListener } from './listeners/listeners.js';

export interface SpawnRequest {
  slot: number;
  generation: number;
  settings: Settings;
  listeners: readonly BoundListener[];
  /** The `env-file` variables (the master's own environment wins over them). */
  env?: Readonly<Record<string, string>>;
  /** The master is a lame duck (src/master/stop/lame-duck.ts): the worker starts lame. */
  lameDuck?: boolean;
}

export interface WorkerEvents {
  message(message: WorkerMessage): void;
  /** Called exactly once, also when the process could not be started at all (pid undefined). */
  exit(code: number | null, signal: NodeJS.Signals | null, error?: Error): void;
}

export interface WorkerHandle {
  readonly pid: number | undefined;
  send(message: MasterMessage): void;
  kill(signal: NodeJS.Signals): void;
  /** Asks the worker's watchdog thread to write a diagnostic report to `path` (see stuck-report.ts). */
  askReport?(path: string): void;
}

export interface Launcher {
  spawn(request: SpawnRequest, events: WorkerEvents): WorkerHandle;
}

const WORKER_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'worker', 'main.js');
/** The IPC channel is fd 3; listening sockets follow from fd 4 in the order given. */
const FIRST_LISTENER_FD = 4;

/**
 * Node flags for workers. `--disable-sigusr1` (Node 22.14+, 23.7+) keeps USR1 from opening the
 * inspector (127.0.0.1:9229, code execution as the worker's user) during Node's own start-up,
 * before the worker's first JS instruction installs its handler. Node 20 has no such flag.
 */
export const WORKER_NODE_FLAGS: readonly string[] = process.allowedNodeEnvironmentFlags.has('--disable-sigusr1')
  ? ['--disable-sigusr1']
  : [];

/**
 * V8's young generation for workers on Node 20, unless the user sizes it. Node 20's V8 lets each
 * semi-space grow to 16 MiB and never gives it back: a worker that served a burst of short
 * connections stays ~20 MiB larger for the rest of its life (built-in /reverse under wrk with
 * Connection: close: 104 -> 86 MiB after load; an Express JSON app 142-150 -> 121-126), and 4 MiB
 * cost no throughput or CPU per request within the spread of interleaved rounds, also for an app
 * that renders ~0.5 MB of objects per request (1 MiB did: +5-10 % CPU per request). On Node 22
 * and 26 the same flag cost 4-5 % of Connection: close throughput and saved 0 and 10 MiB, so
 * newer lines keep V8's own sizing. Figures: docs/DESIGN.md#memory.
 */
export const WORKER_SEMI_SPACE_FLAG = '--max-semi-space-size=4';
const SEMI_SPACE_DEFAULT_UP_TO_NODE = 20;
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

/** Whether a list of Node flags sizes the semi-space (V8 accepts `_` for `-` in its flag names). */
function sizesSemiSpace(flags: readonly string[]): boolean {
  return flags.some((flag) => /^--max[-_]semi[-_]space[-_]size(=|$)/.test(flag));
}

/**
 * The worker's heap flags: ours on the Node lines they help, unless `worker-node-args` or the
 * NODE_OPTIONS workers inherit already name the semi-space. (Flags on the command line win over
 * NODE_OPTIONS, so ours would silently override a user's NODE_OPTIONS.) Workers run the master's
 * own Node binary, so its version is theirs.
 */
export function workerHeapFlags(
  nodeArgs: readonly string[],
  nodeOptions: string | undefined = process.env['NODE_OPTIONS'],
  nodeMajor = NODE_MAJOR,
): string[] {
  if (nodeMajor > SEMI_SPACE_DEFAULT_UP_TO_NODE) return [];
  const theirs = [...nodeArgs, ...(nodeOptions ?? '').split(/\s+/)];
  return sizesSemiSpace(theirs) ? [] : [WORKER_SEMI_SPACE_FLAG];
}

export function workerArgv(name: string, slot: number, nodeArgs: readonly string[] = []): string[] {
  const argv = [process.execPath, ...WORKER_NODE_FLAGS, ...workerHeapFlags(nodeArgs), ...nodeArgs, WORKER_SCRIPT];
  // Room for the title: Node can only reuse the bytes of the original command line.
  const missing = Buffer.byteLength(workerTitle(name, slot)) - titleCapacity(argv);
  if (missing > 0) argv.push('-'.repeat(missing));
  return argv.slice(1);
}

/** Which worker this is, for the app: RAAS's name and PM2's (NODE_APP_INSTANCE). */
export function workerIdentityEnv(slot: number): Record<string, string> {
  return { RAAS_WORKER_SLOT: String(slot), NODE_APP_INSTANCE: String(slot) };
}

/**
 * Where the socket is bound, for the worker to check its fd against (see ipc.ts WorkerListener):
 * `bound` comes from getsockname in the master that bound it. Nothing for a socket whose address
 * we never learnt (systemd's: `line://systemd-fd-3`).
 */
function boundLocation(bound: string): Pick<WorkerListener, 'host' | 'port' | 'family' | 'path'> {
  let address: ListenAddress;
  try {
    address = parseListenAddress(bound);
  } catch {
    return {};
  }
  if (address.kind === 'unix') return { path: address.path };
  return address.port === 0 ? {} : { host: address.host, port: address.port, family: address.family };
}

export const processLauncher: Launcher = {
  spawn(request, events) {
    const { slot, generation, settings, listeners } = request;
    // The watchdog's pipe follows the listeners, so listener fds keep their numbers.
    const watchdogFd = settings.workerWatchdog === 'on' ? FIRST_LISTENER_FD + listeners.length : null;
    const config: WorkerBootConfig = {
      slot,
      generation,
      masterPid: process.pid,
      heartbeatMs: heartbeatInterval(settings.timeout),
      settings,
      listeners: listeners.map((l, i) => ({
        fd: FIRST_LISTENER_FD + i,
        protocol: l.protocol,
        address: l.bound,
        ...boundLocation(l.bound),
      })),
      watchdogFd,
      lameDuck: request.lameDuck === true,
    };
    const child = spawn(process.execPath, workerArgv(settings.name, slot, workerNodeArgs(settings.workerNodeArgs ?? [])), {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc', ...listeners.map((l) => l.fd), ...(watchdogFd === null ? [] : ['pipe' as const])],
      env: { ...request.env, ...process.env, ...workerIdentityEnv(slot), [WORKER_CONFIG_ENV]: JSON.stringify(config) },
      // A process group (and session) of its own: signals for the master's group (a terminal's
      // HUP or INT, `kill -- -PGID`) never reach a worker, which may not have its handlers yet.
      // The master forwards what workers must obey; workers still notice its death by IPC.
      detached: true,
    });
    let exited = false;
    const exit = (code: number | null, signal: NodeJS.Signals | null, error?: Error): void => {
      if (exited) return;
      exited = true;
      events.exit(code, signal, error);
    };
    child.on('message', (message) => {
      if (isWorkerMessage(message)) events.message(message);
    });
    child.on('exit', (code, signal) => exit(code, signal));
    child.on('error', (error) => {
      // 'error' without a pid: the process never started, so no 'exit' will follow.
      if (child.pid === undefined) exit(null, null, error);
    });
    const watchdog = watchdogFd === null ? null : (child.stdio[watchdogFd] as Writable | null);
    // The worker may die with a request unread: its exit event tells that story, not EPIPE.
    watchdog?.on('error', () => {});
    return {
      pid: child.pid,
      askReport: watchdog === null ? undefined : (path) => void watchdog.write(`${path}\n`),
      send(message) {
        if (!child.connected) return;
        child.send(message, (err: Error | null) => {
          // The worker may exit between the check and the write; its exit event tells the story.
          void err;
        });
      },
      kill(signal) {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      },
    };
  },
};
