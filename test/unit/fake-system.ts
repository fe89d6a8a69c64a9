// A fake System (src/master/system.ts) for unit tests of the master: no processes, sockets or
// files; every OS effect is recorded so that a test can assert on it.
// Runs in: the test runner process.

import type { BoundListener } from '../../src/master/listeners/listeners.js';
import type { SuccessorEvents } from '../../src/master/upgrade/reexec.js';
import type { System } from '../../src/master/system.js';

export interface FakeSuccessor {
  pid: number;
  events: SuccessorEvents;
  running: boolean;
}

export interface FakeOs {
  system: System;
  /** Pid file contents by path (what pidfile.ts would have written). */
  files: Map<string, number>;
  successors: FakeSuccessor[];
  closed: BoundListener[];
  signalsSent: Array<[number, NodeJS.Signals]>;
  /** Live RAAS masters by pid (isLiveMaster). */
  liveMasters: Set<number>;
  parentPid: number;
  notifiedParent: number;
  tty: boolean;
}

export function fakeSystem(overrides: Partial<System> = {}): FakeOs {
  let nextPid = 5_000;
  const os: FakeOs = {
    files: new Map(),
    successors: [],
    closed: [],
    signalsSent: [],
    liveMasters: new Set([process.pid]),
    parentPid: 1,
    notifiedParent: 0,
    tty: false,
    system: undefined as unknown as System,
  };
  const oldbin = (path: string) => `${path}.oldbin`;
  os.system = {
    clock: () => 0,
    random: () => 0,
    launcher: { spawn: () => ({ pid: nextPid++, send() {}, kill() {} }) },
    bind: () => Promise.reject(new Error('no binding in this test')),
    closeListener: (listener) => void os.closed.push(listener),
    onSignals: () => {},
    parentPid: () => os.parentPid,
    isLiveMaster: (pid) => os.liveMasters.has(pid),
    signal(pid, signal) {
      os.signalsSent.push([pid, signal]);
      return true;
    },
    hasControllingTerminal: () => os.tty,
    probeAppend: () => {},
    pidFiles: {
      readPid: (path) => os.files.get(path) ?? null,
      oldbinPath: oldbin,
      moveToOldbin(path) {
        os.files.set(oldbin(path), process.pid);
        if (os.files.get(path) === process.pid) os.files.delete(path);
      },
      restoreFromOldbin(path, pid = process.pid) {
        if (os.files.get(oldbin(path)) === pid) os.files.delete(oldbin(path));
        os.files.set(path, pid);
      },
      release(path) {
        for (const p of [path, oldbin(path)]) if (os.files.get(p) === process.pid) os.files.delete(p);
      },
    },
    startSuccessor(_listeners, events) {
      const successor: FakeSuccessor = { pid: nextPid++, events, running: true };
      os.successors.push(successor);
      return { pid: successor.pid, alive: () => successor.running };
    },
    notifyParentReady: () => void (os.notifiedParent += 1),
    setTitle: () => {},
    memoryAvailable: () => 64 * 1024 ** 3,
    reapOrphans: null,
    watchFiles: () => ({ close() {} }),
    exit: () => {},
    ...overrides,
  };
  return os;
}
