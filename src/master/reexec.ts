// USR2: starts a new master from the same command line and directory, handing it every
// listening socket so the kernel queues are never closed.
// Runs in: the old master.

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { INHERIT_ENV, inheritEnv, PARENT_ENV } from './inherit.js';
import type { BoundListener } from './listeners.js';

export interface SuccessorEvents {
  ready(pid: number): void;
  exit(pid: number, code: number | null, signal: NodeJS.Signals | null): void;
}

export interface Successor {
  readonly pid: number;
  readonly child: ChildProcess;
  ready: boolean;
}

/** The directory we were started in, as the operator named it (a deploy's `current` symlink). */
function startDirectory(): string {
  const pwd = process.env.PWD;
  try {
    if (pwd && fs.statSync(pwd).ino === fs.statSync(process.cwd()).ino) return pwd;
  } catch {
    // PWD is stale: fall back to the real path
  }
  return process.cwd();
}

export function startSuccessor(listeners: readonly BoundListener[], events: SuccessorEvents): Successor {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    cwd: startDirectory(),
    env: { ...process.env, [INHERIT_ENV]: inheritEnv(listeners), [PARENT_ENV]: String(process.pid) },
    stdio: ['ignore', 'inherit', 'inherit', ...listeners.map((l) => l.fd), 'ipc'],
  });
  const successor: Successor = { pid: child.pid ?? -1, child, ready: false };
  child.on('message', (message: unknown) => {
    if ((message as { type?: string } | null)?.type === 'successor-ready') {
      successor.ready = true;
      events.ready(successor.pid);
    }
  });
  child.on('exit', (code, signal) => events.exit(successor.pid, code, signal));
  child.on('error', () => {
    if (child.pid === undefined) events.exit(-1, null, null);
  });
  return successor;
}

/** In the new master: tells the old one we are ready, then lets the channel go. */
export function notifyParentReady(): void {
  if (!process.send || !process.connected) return;
  process.send({ type: 'successor-ready' }, () => {
    // The old master may quit as soon as it reads this; the channel must not keep us busy.
    if (process.connected) process.disconnect();
  });
}
