// The master's pid file: written atomically, refused when it names a live RAAS master, replaced
// when stale, renamed to `.oldbin` during an upgrade, removed at exit only if still ours.
// Runs in: master (and control commands, which read it).

import * as fs from 'node:fs';

export function readPid(path: string): number | null {
  try {
    const pid = Number.parseInt(fs.readFileSync(path, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** A RAAS master titles itself "[NAME] master"; a recycled pid of another program does not. */
export function isLiveMaster(pid: number): boolean {
  try {
    const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return /^\[[^\]]+\] master/.test(args);
  } catch {
    return false;
  }
}

export class PidFileError extends Error {}

/** Writes our pid; refuses when another live master owns the file. */
export function claimPidFile(path: string, pid: number = process.pid): void {
  const owner = readPid(path);
  if (owner !== null && owner !== pid && isLiveMaster(owner)) {
    throw new PidFileError(`pid file ${path} names a running master (pid ${owner})`);
  }
  writePidFile(path, pid);
}

export function writePidFile(path: string, pid: number = process.pid): void {
  // rename(2) is atomic: a reader sees the old content or the new, never a half-written file.
  const tmp = `${path}.${pid}.tmp`;
  fs.writeFileSync(tmp, `${pid}\n`);
  fs.renameSync(tmp, path);
}

/** Removes the file only if it still names us (a successor may have written its own). */
export function releasePidFile(path: string, pid: number = process.pid): void {
  for (const candidate of [path, oldbinPath(path)]) {
    if (readPid(candidate) === pid) {
      try {
        fs.unlinkSync(candidate);
      } catch {
        // removed meanwhile
      }
    }
  }
}

export function oldbinPath(path: string): string {
  return `${path}.oldbin`;
}

/** Upgrade: our pid file becomes `.oldbin` so the new master can write its own. */
export function moveToOldbin(path: string, pid: number = process.pid): void {
  if (readPid(path) === pid) fs.renameSync(path, oldbinPath(path));
  else writePidFile(oldbinPath(path), pid);
}

/** Back-out or a failed upgrade: `.oldbin` becomes the pid file again. */
export function restoreFromOldbin(path: string, pid: number = process.pid): void {
  if (readPid(oldbinPath(path)) === pid) fs.renameSync(oldbinPath(path), path);
  else writePidFile(path, pid);
}
