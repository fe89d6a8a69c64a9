// The master's one seam to the operating system: the clock, the worker launcher, sockets, the
// pid file, /proc and tty probes, the successor master, signals and exit. The master and its
// phase objects (reload, upgrade, stop, workers) reach the OS only through a System, so unit
// tests drive every decision with a fake one (test/unit/fake-system.ts).
// Runs in: master.

import * as fs from 'node:fs';
import type { ListenAddress } from '../config/listen-address.js';
import { SIGNALS } from '../signals.js';
import { setProcessTitle } from '../process-title.js';
import { processLauncher, type Launcher } from './launcher.js';
import { bindListener, closeListener, type BoundListener } from './listeners/listeners.js';
import { isLiveMaster, moveToOldbin, oldbinPath, readPid, releasePidFile, restoreFromOldbin } from './files/pidfile.js';
import { memoryAvailable } from './supervision/free-memory.js';
import type { ReapOrphans } from './supervision/reaper.js';
import { watchFiles, type FileWatch, type WatchCallbacks } from './watch/watch.js';
import { notifyParentReady, startSuccessor, type SuccessorEvents, type SuccessorProcess } from './upgrade/reexec.js';

/** Pid-file steps of an upgrade (implemented by pidfile.ts). */
export interface PidFiles {
  readPid(path: string): number | null;
  oldbinPath(path: string): string;
  moveToOldbin(path: string): void;
  restoreFromOldbin(path: string, pid?: number): void;
  release(path: string): void;
}

export interface System {
  /** Monotonic milliseconds. */
  clock(): number;
  /** A number in [0, 1): the jitter of each worker's max-requests limit. */
  random(): number;
  launcher: Launcher;
  bind(address: ListenAddress): Promise<BoundListener>;
  /** Closes our copy of a listening socket, and removes its Unix socket file. */
  closeListener(listener: BoundListener): void;
  /** Calls `handler` for every signal of the signal table. */
  onSignals(handler: (signal: NodeJS.Signals) => void): void;
  /** Our own parent's pid (getppid): it changes when the process that started us dies. */
  parentPid(): number;
  /** The pid is a live RAAS master (by its process title in /proc). */
  isLiveMaster(pid: number): boolean;
  /** Sends a signal; false when the process is gone. */
  signal(pid: number, signal: NodeJS.Signals): boolean;
  /** Opens a file for appending and closes it again; throws when it cannot be (a reload's log-file). */
  probeAppend(path: string): void;
  /** WINCH comes from terminal resizes too: is there a controlling terminal (/dev/tty)? */
  hasControllingTerminal(): boolean;
  pidFiles: PidFiles;
  /** USR2: a new master from the same command line, inheriting `listeners`. */
  startSuccessor(listeners: readonly BoundListener[], events: SuccessorEvents): SuccessorProcess;
  /** In a new master: tell the old one we are ready. */
  notifyParentReady(): void;
  /** Sets the process title ("[NAME] master (old)" during an upgrade). */
  setTitle(title: string): void;
  /** Bytes of memory free for one more worker (MemAvailable, a cgroup limit); null: unknown. */
  memoryAvailable(): number | null;
  /** As PID 1: collects zombie children the master did not start (see reaper.ts); null otherwise. */
  reapOrphans: ReapOrphans | null;
  /** `--watch`: reports changes under these paths, debounced (watch/watch.ts). */
  watchFiles(paths: readonly string[], callbacks: WatchCallbacks): FileWatch;
  exit(code: number): void;
}

export const realSystem: System = {
  clock: () => performance.now(),
  random: () => Math.random(),
  launcher: processLauncher,
  bind: bindListener,
  closeListener,
  onSignals(handler) {
    for (const spec of SIGNALS) process.on(spec.signal, () => handler(spec.signal));
  },
  parentPid: () => process.ppid,
  isLiveMaster,
  signal(pid, signal) {
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  },
  probeAppend(path) {
    fs.closeSync(fs.openSync(path, 'a'));
  },
  hasControllingTerminal() {
    try {
      fs.closeSync(fs.openSync('/dev/tty', 'r'));
      return true;
    } catch {
      return false;
    }
  },
  pidFiles: {
    readPid,
    oldbinPath,
    moveToOldbin: (path) => moveToOldbin(path),
    restoreFromOldbin: (path, pid) => restoreFromOldbin(path, pid),
    release: (path) => releasePidFile(path),
  },
  startSuccessor,
  notifyParentReady,
  setTitle: (title) => void setProcessTitle(title),
  memoryAvailable: () => memoryAvailable(),
  reapOrphans: null,
  watchFiles,
  exit: (code) => process.exit(code),
};
