// The master's pid file: written atomically with mode 0644 (safe-file.ts), refused when it names a
// live RAAS master, replaced when stale, renamed to `.oldbin` during an upgrade, removed at exit
// only if still ours. Its directory must not be writable by other users (unless sticky), and a pid
// file owned by another user is never trusted.
// Runs in: master (and control commands, which read it).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { isMasterProcess } from './identity.js';
import { checkDirectory, ourUid, readOwnedFile, UnsafeFileError, writeFileAtomic } from '../../safe-file.js';
import { errorMessage } from '../../errors.js';

/** Readable by all (monitoring reads pid files), writable by us only, whatever the umask. */
export const PID_FILE_MODE = 0o644;

/**
 * The pid a pid file names: null when it is missing or holds no pid. Throws UnsafeFileError when
 * the file is not a regular file owned by `owner` (default: us).
 */
export function readPidChecked(file: string, owner: number | null = ourUid()): number | null {
  const text = readOwnedFile(file, owner);
  if (text === null) return null;
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/** The pid a pid file names, or null when it is missing, holds no pid, or cannot be trusted. */
export function readPid(file: string, owner: number | null = ourUid()): number | null {
  try {
    return readPidChecked(file, owner);
  } catch {
    return null;
  }
}

/**
 * Whether `pid` is a live RAAS master: its title is exactly "[NAME] master" or "[NAME] master (old)"
 * (any valid NAME when `name` is not given) and it runs as `uid` (default: our uid). A recycled pid
 * of another program, or a look-alike of another user, is not.
 */
export function isLiveMaster(pid: number, name?: string, uid: number | null = ourUid()): boolean {
  return isMasterProcess(pid, name, uid);
}

export class PidFileError extends Error {
  override readonly name = 'PidFileError';
  /** running: another live master owns the file. unusable: the file or its directory cannot be used. */
  constructor(
    message: string,
    readonly kind: 'running' | 'unusable' = 'running',
  ) {
    super(message);
  }
}

/**
 * Writes our pid; refuses when another live master owns the file (kind 'running'), or when the
 * file cannot be claimed safely: a directory others can write, a file of another user, a path
 * that is a directory, no permission (kind 'unusable').
 */
export function claimPidFile(file: string, pid: number = process.pid, name?: string): void {
  let owner: number | null;
  try {
    checkDirectory(path.dirname(file));
    owner = readPidChecked(file);
  } catch (err) {
    throw new PidFileError(`cannot use pid file ${file}: ${errorMessage(err)}`, 'unusable');
  }
  if (owner !== null && owner !== pid && isLiveMaster(owner, name)) {
    throw new PidFileError(`pid file ${file} names a running master (pid ${owner})`, 'running');
  }
  try {
    writePidFile(file, pid);
  } catch (err) {
    throw new PidFileError(`cannot use pid file ${file}: ${errorMessage(err)}`, 'unusable');
  }
}

export function writePidFile(file: string, pid: number = process.pid): void {
  writeFileAtomic(file, `${pid}\n`, PID_FILE_MODE);
}

/** Removes the file only if it still names us (a successor may have written its own). */
export function releasePidFile(file: string, pid: number = process.pid): void {
  for (const candidate of [file, oldbinPath(file)]) {
    if (readPid(candidate) === pid) {
      try {
        fs.unlinkSync(candidate);
      } catch {
        // removed meanwhile
      }
    }
  }
}

export function oldbinPath(file: string): string {
  return `${file}.oldbin`;
}

/** Upgrade: our pid file becomes `.oldbin` so the new master can write its own. */
export function moveToOldbin(file: string, pid: number = process.pid): void {
  if (readPid(file) === pid) fs.renameSync(file, oldbinPath(file));
  else writePidFile(oldbinPath(file), pid);
}

/** Back-out or a failed upgrade: `.oldbin` becomes the pid file again. */
export function restoreFromOldbin(file: string, pid: number = process.pid): void {
  if (readPid(oldbinPath(file)) === pid) fs.renameSync(oldbinPath(file), file);
  else writePidFile(file, pid);
}

export { UnsafeFileError };
