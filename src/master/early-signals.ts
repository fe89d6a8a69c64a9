// Signal handlers from the first instructions of the `raas` process, before anything heavy is
// loaded: a signal that arrives while the master is still loading its config, claiming the pid
// file or binding is queued here and handed to the master's inbox when its loop starts (as
// Unicorn does). Without them, USR1 would start Node's inspector (code execution for anyone on
// 127.0.0.1:9229) and HUP would kill the half-started master.
// Runs in: the `raas` process, from its first line (master, or a control command / --help run).
//
// Deliberately imports nothing but the (dependency-free) signal table.

import { SIGNALS } from '../signals.js';

/** More than this many early signals are dropped: a flood must not grow memory. */
const MAX_QUEUED = 64;
/** Stop signals: a second one before the loop runs ends a boot that may never finish. */
const STOPS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGQUIT'];
/** Exit numbers of the stop signals, for 128+N (no node:os import here). */
const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGTERM: 15 };

const queue: NodeJS.Signals[] = [];
const installed = new Map<NodeJS.Signals, () => void>();
let stopsSeen = 0;

export function installEarlySignals(): void {
  if (installed.size > 0) return;
  // USR1 first: until a JS listener replaces it, Node's own native USR1 handler starts the
  // inspector from another thread, even in the microseconds between two lines of this loop.
  const order = [...SIGNALS].sort((a, b) => Number(b.signal === 'SIGUSR1') - Number(a.signal === 'SIGUSR1'));
  for (const { signal } of order) {
    const onSignal = (): void => {
      if (STOPS.includes(signal) && ++stopsSeen >= 2) {
        // The operator insists and the master loop is not running yet (a config that never
        // finishes loading, a slow bind): nothing was started that needs a graceful stop.
        process.exit(128 + (SIGNAL_NUMBERS[signal] ?? 0));
      }
      if (queue.length < MAX_QUEUED) queue.push(signal);
    };
    installed.set(signal, onSignal);
    process.on(signal, onSignal);
  }
}

function uninstall(): NodeJS.Signals[] {
  for (const [signal, onSignal] of installed) process.off(signal, onSignal);
  installed.clear();
  return queue.splice(0);
}

/**
 * The master loop starts: its own handlers are installed (call this after them, so no signal
 * finds no handler), and it takes what arrived so far, in order.
 */
export function takeEarlySignals(): NodeJS.Signals[] {
  return uninstall();
}

/**
 * Not a master after all (--help, --version, a control command): give the signals back their
 * default meaning, and honour a stop or hang-up that arrived meanwhile (Ctrl-C must work).
 */
export function releaseEarlySignals(): void {
  const pending = uninstall();
  const fatal = pending.find((s) => s === 'SIGHUP' || STOPS.includes(s));
  if (fatal !== undefined) process.kill(process.pid, fatal);
}

/**
 * Whether Node itself was told to ignore USR1 (`--disable-sigusr1`, which bin/raas passes where
 * this Node has it). Without it, a USR1 in Node's bootstrap, before the handlers above exist,
 * starts the inspector on 127.0.0.1:9229: code execution as this process's user.
 */
export function usr1DisabledByNode(): boolean {
  return process.execArgv.includes('--disable-sigusr1') || /(^|\s)--disable-sigusr1(\s|$)/.test(process.env['NODE_OPTIONS'] ?? '');
}

/** What a root master started without that flag is told (docs/SIGNALS.md, "Signals while the master starts"). */
export function inspectorAdvice(): Record<string, string> {
  const risk = 'a USR1 in the first milliseconds after exec could open an inspector on 127.0.0.1:9229';
  return process.allowedNodeEnvironmentFlags.has('--disable-sigusr1')
    ? { risk, advice: 'start the master with the raas command (node_modules/.bin/raas), which passes --disable-sigusr1' }
    : { risk, advice: `Node ${process.version} has no --disable-sigusr1: run RAAS on Node 22.14 or later (see docs/SIGNALS.md)` };
}
