// USR2: starts a new master from the same command line and directory, handing it every
// listening socket so the kernel queues are never closed.
// Runs in: the old master (startSuccessor) and the new one (notifyParentReady).

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import type { BoundListener } from '../listeners/listeners.js';
import { INHERIT_ENV, inheritEnv, PARENT_ENV } from './inherit.js';

export interface SuccessorEvents {
  ready(pid: number): void;
  exit(pid: number, code: number | null, signal: NodeJS.Signals | null): void;
}

/** The new master as the old one sees it. */
export interface SuccessorProcess {
  readonly pid: number;
  /** It still runs (it may serve from our sockets). */
  alive(): boolean;
}

/**
 * The directory we were started in, as the operator named it (a deploy's `current` symlink,
 * which a deploy re-points before USR2). PWD counts only if it is the same directory as our
 * working directory: same device and inode (an inode number alone can repeat across filesystems).
 */
export function startDirectory(pwd: string | undefined = process.env.PWD, cwd: string = process.cwd()): string {
  try {
    if (pwd) {
      const [named, real] = [fs.statSync(pwd), fs.statSync(cwd)];
      if (named.dev === real.dev && named.ino === real.ino) return pwd;
    }
  } catch {
    // PWD is stale: fall back to the real path
  }
  return cwd;
}

export function startSuccessor(listeners: readonly BoundListener[], events: SuccessorEvents): SuccessorProcess {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    cwd: startDirectory(),
    env: { ...process.env, [INHERIT_ENV]: inheritEnv(listeners), [PARENT_ENV]: String(process.pid) },
    stdio: ['ignore', 'inherit', 'inherit', ...listeners.map((l) => l.fd), 'ipc'],
  });
  const pid = child.pid ?? -1;
  child.on('message', (message: unknown) => {
    if ((message as { type?: string } | null)?.type === 'successor-ready') events.ready(pid);
  });
  child.on('exit', (code, signal) => events.exit(pid, code, signal));
  child.on('error', () => {
    if (child.pid === undefined) events.exit(-1, null, null);
  });
  return { pid, alive: () => isRunning(child) };
}

function isRunning(child: ChildProcess): boolean {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

/** In the new master: tells the old one we are ready, then lets the channel go. */
export function notifyParentReady(): void {
  if (!process.send || !process.connected) return;
  process.send({ type: 'successor-ready' }, () => {
    // The old master may quit as soon as it reads this; the channel must not keep us busy.
    if (process.connected) process.disconnect();
  });
}
