// Write access for the workers' group to the log files they reopen by name on USR1, when workers
// drop to `user` / `group` (src/worker/privileges.ts). The files stay root's.
// Runs in: workers (at boot, as root, before the drop) and the master (after each USR1 reopen,
// before it tells the workers: a rotation leaves a new file created by root, as nginx's master
// hands its reopened logs to the worker user).
//
// Each file is opened without following a link and without blocking (a FIFO), checked to be a
// regular file with one link, and changed through the fd, never by path: nothing planted at the
// path can redirect the change to another file. What already lets the user write (owner, group,
// other) is left as it is.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { dropTarget, type DropTarget } from './config/accounts.js';
import type { Settings } from './config/settings.js';

export interface Granted {
  /** Files whose group became the workers' group, with group write. */
  granted: string[];
  /** Files in a directory the user cannot search: written, but never reopened, by workers. */
  unreachable: string[];
}

/** The log files workers open by name: log-file, and access-log unless it is stderr. */
function workerLogFiles(settings: Pick<Settings, 'logFile' | 'accessLog'>): string[] {
  return [settings.logFile, settings.accessLog].filter((f): f is string => f !== null && f !== '-');
}

export function grantLogFiles(
  settings: Pick<Settings, 'logFile' | 'accessLog' | 'user' | 'group'>,
  target: DropTarget | null = dropTarget(settings),
): Granted {
  const out: Granted = { granted: [], unreachable: [] };
  if (target === null) return out;
  const uid = target.user?.uid ?? 0;
  const groups = new Set([target.gid, ...(target.user === null ? [] : memberOf(target.user.name))]);
  const may = (stat: fs.Stats, bit: number): boolean =>
    (stat.uid === uid && (stat.mode & (bit << 6)) !== 0) ||
    (stat.uid !== uid && groups.has(stat.gid) && (stat.mode & (bit << 3)) !== 0) ||
    (stat.uid !== uid && !groups.has(stat.gid) && (stat.mode & bit) !== 0) ||
    uid === 0;
  const { O_WRONLY, O_APPEND, O_CREAT, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
  for (const file of workerLogFiles(settings)) {
    for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
      let stat: fs.Stats | null = null;
      try {
        stat = fs.statSync(dir);
      } catch {
        // a missing directory: the open below fails and says so
      }
      if (stat !== null && !may(stat, 0o1)) {
        out.unreachable.push(file);
        break;
      }
      if (path.dirname(dir) === dir) break;
    }
    let fd: number;
    try {
      fd = fs.openSync(file, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK, 0o640);
    } catch {
      // A link, a FIFO without reader, a missing directory: the log's own opener refuses it and says why.
      continue;
    }
    try {
      const stat = fs.fstatSync(fd);
      if (!stat.isFile() || stat.nlink !== 1 || may(stat, 0o2)) continue;
      fs.fchownSync(fd, stat.uid, target.gid);
      // Not setuid or setgid bits: a log file is never a program.
      fs.fchmodSync(fd, (stat.mode & 0o777) | 0o020);
      out.granted.push(file);
    } finally {
      fs.closeSync(fd);
    }
  }
  return out;
}

/** The master's side, after a USR1 reopen: never throws (the workers say what they cannot reopen). */
export function grantLogFilesQuietly(settings: Pick<Settings, 'logFile' | 'accessLog' | 'user' | 'group'>): void {
  if (settings.user === null && settings.group === null) return;
  try {
    grantLogFiles(settings);
  } catch {
    // a missing directory, an unknown account since: each worker's log-reopen-failed tells it
  }
}

/** Groups that list `user` as a member in /etc/group (what initgroups adds beside the primary). */
function memberOf(user: string): number[] {
  try {
    const out: number[] = [];
    for (const line of fs.readFileSync('/etc/group', 'utf8').split('\n')) {
      const fields = line.split(':');
      if (fields.length >= 4 && (fields[3] ?? '').split(',').includes(user)) out.push(Number(fields[2]));
    }
    return out;
  } catch {
    return [];
  }
}
