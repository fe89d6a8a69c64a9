// Who a process is: its title (what `ps` shows) and its uid, to tell a live RAAS master of ours from
// a recycled pid or a look-alike. The only place that reads /proc for this; other platforms ask
// `ps -o uid=,stat=,args=`.
// Runs in: master and control commands.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { masterTitle, NAME_PATTERN } from '../../process-title.js';

export interface ProcessIdentity {
  /** Real uid; null when the platform could not tell. */
  uid: number | null;
  /** The title (argv[0] as set by process.title); null when the platform could not tell. */
  title: string | null;
  /**
   * The title fills the whole argv area, so it may have been cut to fit (see process-title.ts).
   * Only known on Linux.
   */
  full: boolean;
}

/** The identity of a live process, or null when it is gone (or a zombie). */
export function processIdentity(pid: number): ProcessIdentity | null {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  if (process.platform === 'linux') return procIdentity(pid);
  return psIdentity(pid);
}

function procIdentity(pid: number): ProcessIdentity | null {
  let status: string;
  let cmdline: string;
  try {
    status = fs.readFileSync(`/proc/${pid}/status`, 'latin1');
    cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1');
  } catch {
    return null;
  }
  if (/^State:\s+Z/m.test(status)) return null;
  const uid = /^Uid:\s+(\d+)/m.exec(status);
  const end = cmdline.indexOf('\0');
  const title = end === -1 ? cmdline : cmdline.slice(0, end);
  // Node writes the title over the whole original argv area and pads with NULs: a title that
  // reaches the area's last byte may have been cut.
  const full = end === -1 || end === cmdline.length - 1;
  return { uid: uid === null ? null : Number(uid[1]), title, full };
}

let warnedUnknown = false;

/** The fallback for platforms without /proc (exported so that Linux tests exercise it too). */
export function psIdentity(pid: number): ProcessIdentity | null {
  let out: string;
  try {
    out = execFileSync('ps', ['-o', 'uid=,stat=,args=', '-p', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch (err) {
    // ps exits 1 when no such process; any other failure (no ps at all) leaves us with kill(0).
    if ((err as { status?: number }).status === 1) return null;
    if (!aliveByKill(pid)) return null;
    if (!warnedUnknown) {
      warnedUnknown = true;
      process.emitWarning(`cannot read the identity of process ${pid} on ${process.platform} (no usable ps): trusting the pid file alone`);
    }
    return { uid: null, title: null, full: false };
  }
  const m = /^\s*(\d+)\s+(\S+)\s(.*)$/.exec(out.trimEnd());
  // A zombie (stat Z) is dead for our purposes: it cannot be signalled into doing anything.
  if (m === null || (m[2] as string).startsWith('Z')) return null;
  return { uid: Number(m[1]), title: (m[3] as string).trim(), full: false };
}

function aliveByKill(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const ANY_MASTER_TITLE = new RegExp(`^\\[(${NAME_PATTERN.source.replace(/^\^|\$$/g, '')})\\] master( \\(old\\))?$`);
const ANY_MASTER_PREFIX = new RegExp(`^\\[(${NAME_PATTERN.source.replace(/^\^|\$$/g, '')})\\]`);

/**
 * Whether a title is a RAAS master's: "[NAME] master" or "[NAME] master (old)" exactly (any valid
 * NAME when `name` is undefined). A title that fills its argv area may be cut short: it is accepted
 * when it is a beginning of one of those that keeps the whole "[NAME]".
 */
export function isMasterTitle(title: string, full: boolean, name?: string): boolean {
  const exact = name === undefined ? ANY_MASTER_TITLE.exec(title)?.[1] : title === masterTitle(name) || title === masterTitle(name, true) ? name : undefined;
  if (exact !== undefined) return true;
  if (!full) return false;
  const prefixName = ANY_MASTER_PREFIX.exec(title)?.[1];
  if (prefixName === undefined || (name !== undefined && prefixName !== name)) return false;
  return masterTitle(prefixName, true).startsWith(title);
}

/** A live process titled as a master (of `name`, if given) running as `uid` (when not null). */
export function isMasterProcess(pid: number, name: string | undefined, uid: number | null): boolean {
  const who = processIdentity(pid);
  if (who === null) return false;
  // Platforms where we cannot tell: alive is all we know (warned about once in psIdentity).
  if (who.title === null) return true;
  if (uid !== null && who.uid !== null && who.uid !== uid) return false;
  return isMasterTitle(who.title, who.full, name);
}
