// The registry of running masters: every master writes one small entry into a private run
// directory of its user's, so that control commands find it without --pid (`raas status` lists
// them all). The run directory: the `run-dir` setting, else $XDG_RUNTIME_DIR/raas, else /run/raas
// for root, else $TMPDIR/raas-UID (as tmux does: /tmp/raas-0 … created 0700 by its user).
// Runs in: master (registers at boot, unregisters at exit) and control commands (list, clean).
//
// An entry is named by pid (`PID.json`), never by name: an old master and the successor a USR2
// started share their name and run side by side for a while, each with its own entry (the
// successor's names the old one as its `parent`, so a command can tell the pair from two rival
// masters). A name may hold a "/" too. A master without a pid file keeps its status and stats
// files here (`PID.status.json`, `PID.stats.json`); one with a pid file keeps them beside it, and
// its entry says where.
//
// Trust, as for the pid file (safe-file.ts): the directory is a real directory (no link) of ours,
// mode 0700, in a parent that others cannot write unless it is sticky; an entry counts only as a
// regular file of ours, mode 0600, one link, naming its own pid, and only while that pid is a live
// RAAS master of ours (identity.ts). Entries are written atomically (temp file + rename). An entry
// whose master is gone (SIGKILL, a crash, a recycled pid) is stale: ignored, and removed with its
// files by whoever lists the directory. An entry that fails a check is reported and left alone.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NAME_PATTERN } from '../../process-title.js';
import { checkDirectory, ourUid, readOwnedFile, UnsafeFileError, writeFileAtomic } from '../../safe-file.js';
import { isMasterProcess } from './identity.js';
import { statusPath } from './status-file.js';
import { statsPath } from '../stats/stats.js';
import { errorMessage } from '../../errors.js';

export const RUN_DIR_MODE = 0o700;
export const ENTRY_MODE = 0o600;

export interface RegistryEntry {
  pid: number;
  name: string;
  /** The master this one was started by (USR2) to replace; null for a master started by hand. */
  parent: number | null;
  /** Epoch milliseconds. */
  started: number;
  cwd: string;
  pidFile: string | null;
  /** Where this master's status file (status-file.ts) and stats report (stats.ts) are. */
  statusFile: string;
  statsFile: string;
}

/** Where masters of user `uid` register: the `run-dir` setting, else the default (see the header). */
export function runDirFor(setting: string | null, env: NodeJS.ProcessEnv = process.env, uid: number | null = ourUid()): string | null {
  if (setting !== null) return setting;
  if (uid === null) return null; // no users (Windows): no registry
  const xdg = env.XDG_RUNTIME_DIR;
  // An XDG_RUNTIME_DIR of another user (sudo keeps the caller's) is not ours to write in.
  if (xdg && path.isAbsolute(xdg) && ownerIfDirectory(xdg) === uid) return path.join(xdg, 'raas');
  if (uid === 0 && ownerIfDirectory('/run') === 0) return '/run/raas';
  return path.join(os.tmpdir(), `raas-${uid}`);
}

function ownerIfDirectory(dir: string): number | null {
  try {
    const stat = fs.statSync(dir);
    return stat.isDirectory() ? stat.uid : null;
  } catch {
    return null;
  }
}

/**
 * Checks (and with `create`, makes) the run directory. False when it does not exist and was not
 * to be made. Throws UnsafeFileError naming the directory when it cannot be trusted.
 */
export function openRunDir(dir: string, create: boolean): boolean {
  checkDirectory(path.dirname(dir));
  let created = false;
  if (create) {
    try {
      fs.mkdirSync(dir, { mode: RUN_DIR_MODE });
      created = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new UnsafeFileError(`cannot create run directory ${dir}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
      }
    }
  }
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !create) return false;
    throw new UnsafeFileError(`run directory ${dir} is not usable: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
  }
  if (stat.isSymbolicLink()) throw new UnsafeFileError(`run directory ${dir} is a symbolic link: refused`);
  if (!stat.isDirectory()) throw new UnsafeFileError(`run directory ${dir} is not a directory`);
  const me = ourUid();
  // Someone who made it before us (in /tmp, say) could read and replace what we write there.
  if (me !== null && stat.uid !== me) throw new UnsafeFileError(`run directory ${dir} is owned by uid ${stat.uid}, not by uid ${me}: refused`);
  if (created) fs.chmodSync(dir, RUN_DIR_MODE); // mkdir's mode went through the umask
  else if ((stat.mode & 0o077) !== 0) {
    throw new UnsafeFileError(`run directory ${dir} has mode ${(stat.mode & 0o777).toString(8)}: only its user may have access (chmod 700 ${dir})`);
  }
  return true;
}

export function entryPath(dir: string, pid: number): string {
  return path.join(dir, `${pid}.json`);
}

/** A master's status and stats files when it has no pid file to keep them beside. */
export function registryStateFiles(dir: string, pid: number): { status: string; stats: string } {
  return { status: path.join(dir, `${pid}.status.json`), stats: path.join(dir, `${pid}.stats.json`) };
}

/** The master's own entry: written at boot, removed at exit (only while it still names us). */
export class Registration {
  private constructor(
    readonly dir: string,
    readonly entry: RegistryEntry,
  ) {}

  /** Creates the run directory if need be and writes our entry; throws UnsafeFileError. */
  static register(dir: string, entry: Omit<RegistryEntry, 'pid' | 'started' | 'cwd'>): Registration {
    openRunDir(dir, true);
    const full: RegistryEntry = { pid: process.pid, started: Date.now(), cwd: process.cwd(), ...entry };
    writeFileAtomic(entryPath(dir, full.pid), JSON.stringify(full) + '\n', ENTRY_MODE);
    // What killed masters left behind goes now, not only when a command lists the directory.
    try {
      listMasters(dir);
    } catch {
      // the directory was checked above; a file vanishing meanwhile changes nothing
    }
    return new Registration(dir, full);
  }

  remove(): void {
    const file = entryPath(this.dir, this.entry.pid);
    try {
      if (parseEntry(readOwnedFile(file, ourUid(), undefined, true), this.entry.pid) === null) return;
      fs.unlinkSync(file);
    } catch {
      // gone already, or replaced by something that is not ours to remove
    }
  }
}

function parseEntry(text: string | null, pid: number): RegistryEntry | null {
  if (text === null) return null;
  let e: Partial<RegistryEntry>;
  try {
    e = JSON.parse(text) as Partial<RegistryEntry>;
  } catch {
    return null;
  }
  const ok =
    e !== null &&
    typeof e === 'object' &&
    e.pid === pid &&
    typeof e.name === 'string' &&
    NAME_PATTERN.test(e.name) &&
    (e.parent === null || (Number.isInteger(e.parent) && (e.parent as number) > 0)) &&
    typeof e.started === 'number' &&
    typeof e.cwd === 'string' &&
    (e.pidFile === null || typeof e.pidFile === 'string') &&
    typeof e.statusFile === 'string' &&
    path.isAbsolute(e.statusFile) &&
    typeof e.statsFile === 'string' &&
    path.isAbsolute(e.statsFile);
  return ok ? (e as RegistryEntry) : null;
}

export interface Listing {
  dir: string;
  /** Live masters of ours, oldest first. */
  masters: RegistryEntry[];
  /** Entries that failed a check: left alone, and said. */
  ignored: { file: string; reason: string }[];
  /** Stale entries removed (their master is gone). */
  cleaned: number[];
}

const ENTRY_NAME = /^([1-9]\d{0,9})\.json$/;
/** A master's state files here, and the temp files a write of one leaves when the master is killed mid-write (safe-file.ts). */
const STATE_NAME = /^\.?([1-9]\d{0,9})\.(?:(?:status|stats)\.json|json\.[0-9a-f]{16}\.tmp|(?:status|stats)\.json\.[0-9a-f]{16}\.tmp)$/;

/**
 * This user's live masters in `dir` (none when it does not exist); stale entries and the state
 * files they leave are removed on the way. Throws UnsafeFileError when the directory is not trusted.
 */
export function listMasters(dir: string): Listing {
  const listing: Listing = { dir, masters: [], ignored: [], cleaned: [] };
  if (!openRunDir(dir, false)) return listing;
  const me = ourUid();
  const names = fs.readdirSync(dir);
  const live = new Set<number>();
  for (const name of names) {
    const m = ENTRY_NAME.exec(name);
    if (m === null) continue;
    const pid = Number(m[1]);
    const file = path.join(dir, name);
    let entry: RegistryEntry | null;
    try {
      entry = parseEntry(readOwnedFile(file, me, 64 * 1024, true), pid);
    } catch (err) {
      listing.ignored.push({ file, reason: errorMessage(err) });
      continue;
    }
    if (entry === null) {
      listing.ignored.push({ file, reason: `${file} is not a registry entry for pid ${pid}: ignored` });
      continue;
    }
    if (isMasterProcess(pid, undefined, me)) {
      live.add(pid);
      listing.masters.push(entry);
      continue;
    }
    // Stale. (A recycled pid that became a new master of ours has rewritten this very file with
    // its own entry, atomically: it is then live above, never removed here.)
    removeQuietly(file);
    listing.cleaned.push(pid);
  }
  for (const name of names) {
    const m = STATE_NAME.exec(name);
    if (m === null || live.has(Number(m[1])) || isMasterProcess(Number(m[1]), undefined, me)) continue;
    const file = path.join(dir, name);
    try {
      // Only what is plainly ours (a regular file of ours): anything else stays for a person to see.
      if (readOwnedFile(file, me, 4 * 1024 * 1024) !== null) removeQuietly(file);
    } catch {
      // not ours to remove
    }
  }
  listing.masters.sort((a, b) => a.started - b.started || a.pid - b.pid);
  return listing;
}

function removeQuietly(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch {
    // removed meanwhile
  }
}

/**
 * Masters that a command may mean: an old master whose successor (started by its USR2) is among
 * them hands its name to that successor, as its pid file does (`.oldbin`); what remains are the
 * masters that serve under their name.
 */
export function currentMasters(masters: readonly RegistryEntry[]): RegistryEntry[] {
  return masters.filter((m) => !masters.some((s) => s.parent === m.pid && s.name === m.name));
}

/**
 * At boot: registers this master (the run directory made if need be). A registry that cannot be
 * used costs the registry, never the service: `onError` hears why, and null is returned.
 */
export function registerMaster(
  settings: { runDir: string | null; name: string; pid: string | null },
  parent: number | null,
  onError: (message: string) => void,
): Registration | null {
  const dir = runDirFor(settings.runDir);
  if (dir === null) return null;
  const state =
    settings.pid === null
      ? registryStateFiles(dir, process.pid)
      : { status: statusPath(settings.pid, process.pid), stats: statsPath(settings.pid, process.pid) };
  try {
    return Registration.register(dir, { name: settings.name, parent, pidFile: settings.pid, statusFile: state.status, statsFile: state.stats });
  } catch (err) {
    onError(`${errorMessage(err)}; control commands find this master only through --pid`);
    return null;
  }
}
