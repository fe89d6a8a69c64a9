// Close-on-exec for the fds a worker inherited (listening sockets, the IPC channel), so that a
// subprocess the app starts does not keep the port bound after RAAS has exited.
// Runs in: workers, before the app is loaded.
//
// Measured: Node 20, 22, 24 and 26 already mark inherited fds close-on-exec at start-up
// (/proc/self/fdinfo shows O_CLOEXEC before any JS touches them). We do not rely on that: each
// fd is checked, and set through the small fdutil addon (native/fdutil.c) when it is not. With
// neither, the worker warns once, naming the consequence.

import * as fs from 'node:fs';
import { loadAddon } from '../native.js';
import { errorMessage } from '../errors.js';

type SetCloexec = (fd: number) => void;

/** The addon, or null when it was not built (no compiler at install). */
function loadFdutil(): SetCloexec | null {
  return loadAddon<{ setCloexec: SetCloexec }>('fdutil')?.setCloexec ?? null;
}

/** O_CLOEXEC as /proc/<pid>/fdinfo prints it (octal `flags`); null when /proc cannot tell. */
const O_CLOEXEC = 0o2000000;
export function isCloexec(fd: number, pid: number | 'self' = 'self'): boolean | null {
  try {
    const m = /^flags:\s*([0-7]+)$/m.exec(fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
    return m ? (parseInt(m[1]!, 8) & O_CLOEXEC) !== 0 : null;
  } catch {
    return null;
  }
}

export interface CloexecResult {
  /** Fds that could not be made close-on-exec (subprocesses of the app will inherit them). */
  leaking: number[];
  /** Why, when some leak. */
  error?: string;
}

export function setCloexecAll(fds: readonly number[], setCloexec: SetCloexec | null = loadFdutil()): CloexecResult {
  const leaking: number[] = [];
  let error: string | undefined;
  for (const fd of fds) {
    if (isCloexec(fd) === true) continue;
    if (setCloexec === null) {
      leaking.push(fd);
      error = 'the fdutil addon was not built';
      continue;
    }
    try {
      setCloexec(fd);
    } catch (err) {
      leaking.push(fd);
      error = errorMessage(err);
    }
  }
  return error === undefined ? { leaking } : { leaking, error };
}
