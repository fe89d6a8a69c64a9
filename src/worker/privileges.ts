// The privilege drop of a worker whose master runs as root with `user` / `group` set (as
// Unicorn's, gunicorn's and nginx's `user`): the worker gives up root before it loads the app.
// Runs in: workers, once, at boot, after the listeners are adopted and before any app code runs.
//
// Order matters. While root, the worker first takes what only root may open: the TLS files (the
// key stays a root-only 0600 file) and write access for its group to the log files it reopens on
// USR1 (the RAAS log it already holds open, the access log it opens later: src/log-grant.ts). Then, as the kernel
// requires: supplementary groups (initgroups, or just the group), the gid, the uid last (after
// setuid() the process may no longer change its groups). Then it proves the drop cannot be undone:
// setuid(0) must fail and every id must be the target's, or the worker refuses to boot.
// What it keeps needs no privilege: the listening sockets and the IPC channel are open fds.

import * as fs from 'node:fs';
import { dropTarget, type DropTarget } from '../config/accounts.js';
import type { Settings } from '../config/settings.js';
import type { WorkerListener } from '../ipc.js';
import { LOG, type Logger } from '../log.js';
import { hasHttpsListener, keepTlsFiles } from '../config/tls-files.js';
import { grantLogFiles } from '../log-grant.js';

export interface Dropped {
  uid: number;
  gid: number;
  groups: number[];
  /** Log files whose group was given write access (so that the worker can reopen them). */
  granted: string[];
}

/** process.initgroups (POSIX; missing from this project's @types/node). */
type InitGroups = (user: string | number, extraGroup: string | number) => void;
const initgroups = (process as { initgroups?: InitGroups }).initgroups;

/**
 * Drops to settings.user / settings.group and logs it; null when neither is set. A worker with an
 * https:// listener reads the TLS files before the drop. Throws (the worker's boot fails) when the
 * drop cannot be made or could be undone.
 */
export function dropPrivileges(settings: Settings, listeners: readonly WorkerListener[], log: Logger): Dropped | null {
  const target = dropTarget(settings);
  if (target === null) return null;
  const https = listeners.some((l) => l.protocol.startsWith('https'));
  if (process.geteuid?.() !== 0 || !process.setuid || !process.setgid || !process.setgroups || !initgroups) {
    throw new Error(`settings "user"/"group" need a worker started as root; this one runs as uid ${process.geteuid?.()}`);
  }
  if (https || hasHttpsListener(settings)) keepTlsFiles(settings);
  const { granted, unreachable } = grantLogFiles(settings, target);

  if (target.user !== null) initgroups.call(process, target.user.name, target.gid);
  else process.setgroups([target.gid]);
  process.setgid(target.gid);
  if (target.user !== null) process.setuid(target.user.uid);

  const dropped = { ...verify(target), granted };
  // A log file in a directory the user cannot search is written (opened before the drop) but not
  // reopened on USR1: say so now rather than at the first rotation.
  (unreachable.length > 0 ? log.warn : log.info).call(log, LOG.PRIVILEGES_DROPPED, {
    user: target.user?.name ?? null,
    uid: dropped.uid,
    gid: dropped.gid,
    groups: dropped.groups.join(','),
    'log-files-granted': granted.length > 0 ? granted.join(',') : undefined,
    'cannot-reopen': unreachable.length > 0 ? unreachable.join(',') : undefined,
    why: unreachable.length > 0 ? 'a directory on the path is not searchable by the user: USR1 cannot reopen these files in workers' : undefined,
  });
  return dropped;
}

/** Every id is the target's and root cannot be taken back; throws otherwise. */
function verify(target: DropTarget): Omit<Dropped, 'granted'> {
  const uid = process.getuid!();
  const gid = process.getgid!();
  const groups = process.getgroups!();
  const wantUid = target.user?.uid ?? 0;
  const wrong: string[] = [];
  if (uid !== wantUid || process.geteuid!() !== wantUid) wrong.push(`uid ${uid}, euid ${process.geteuid!()} (want ${wantUid})`);
  if (gid !== target.gid || process.getegid!() !== target.gid) wrong.push(`gid ${gid}, egid ${process.getegid!()} (want ${target.gid})`);
  if (target.user === null && (groups.length !== 1 || groups[0] !== target.gid)) wrong.push(`groups ${groups.join(',')} (want ${target.gid})`);
  if (wantUid !== 0) {
    // setuid(2) as root sets the real, effective and saved uid at once: none is left to go back
    // to. Should anything have kept one (a saved uid, a capability), these calls would succeed.
    for (const [name, regain] of [
      ['setuid(0)', () => process.setuid!(0)],
      ['seteuid(0)', () => process.seteuid!(0)],
      ...(target.gid === 0 ? [] : [['setgid(0)', () => process.setgid!(0)] as const]),
    ] as const) {
      let regained = true;
      try {
        regain();
      } catch {
        regained = false;
      }
      if (regained) wrong.push(`${name} succeeded after the drop`);
    }
    const caps = effectiveCapabilities();
    if (caps !== null && caps !== 0n) wrong.push(`capabilities left: CapEff ${caps.toString(16)}`);
  }
  if (wrong.length > 0) throw new Error(`the privilege drop did not hold: ${wrong.join('; ')}`);
  return { uid, gid, groups };
}

/** CapEff of this process (Linux), or null where /proc does not say. */
function effectiveCapabilities(): bigint | null {
  try {
    const line = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return line === null ? null : BigInt(`0x${line[1]}`);
  } catch {
    return null;
  }
}
