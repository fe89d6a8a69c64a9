// How a control command finds its master: through the pid file (`--pid FILE`, or "pid" in the
// config), else through the registry of this user's masters (master/files/registry.ts), by name
// when one is given. Either way, the master found is a live process titled as a RAAS master, of
// the right user, and the files it is read through pass the same checks.
// Runs in: the operator's shell (control commands).

import { processIdentity } from '../master/files/identity.js';
import { isLiveMaster, readPidChecked } from '../master/files/pidfile.js';
import { currentMasters, listMasters, runDirFor, type Listing, type RegistryEntry } from '../master/files/registry.js';
import { readStatusChecked, statusPath } from '../master/files/status-file.js';
import { statsPath } from '../master/stats/stats.js';
import { masterTitle } from '../process-title.js';
import { ourUid, UnsafeFileError } from '../safe-file.js';
import { mastersTable } from './masters-view.js';
import type { StateFiles } from './status-view.js';

export class ControlError extends Error {}

export interface FoundMaster {
  pid: number;
  /** The name its process title shows. */
  name: string;
  files: StateFiles;
}

export interface Finder {
  /** The one master meant; a ControlError when there is none, or more than one. */
  find(): FoundMaster;
  /** The master still runs (a live master of that name and user). */
  alive(master: FoundMaster): boolean;
  /** The master that `old`'s USR2 started, once it runs: where `raas upgrade` looks for it. */
  successorOf(old: FoundMaster): FoundMaster | null;
}

/** The pid file names the master (its owner's, no link); no name given: the master's status file says it. */
export class PidFileFinder implements Finder {
  /**
   * The user the master runs as: ours; as root, the pid file's owner (root may drive the master of
   * another user). The pid file, the status file and the master process must all be this user's.
   */
  readonly owner: number | null;

  constructor(
    private readonly pidFile: string,
    private name: string,
    private readonly nameGiven: boolean,
    owner: number | null,
  ) {
    this.owner = owner;
  }

  private found(pid: number): FoundMaster {
    return { pid, name: this.name, files: { status: statusPath(this.pidFile, pid), stats: statsPath(this.pidFile, pid), owner: this.owner } };
  }

  find(): FoundMaster {
    const pid = this.pidInFile();
    if (pid !== null && isLiveMaster(pid, this.name, this.owner)) return this.found(pid);
    if (pid !== null && !this.nameGiven) {
      // No name given: the master's own status file says it. The file counts only as the pid file
      // does (the master's user's, no link) and only if it names this very pid; the process must
      // then be titled as a master of that name, as that user: the same checks, another name.
      const published = this.status(pid)?.name;
      if (published !== undefined && published !== this.name && isLiveMaster(pid, published, this.owner)) {
        this.name = published;
        return this.found(pid);
      }
    }
    // A master of ours under another name: say which, rather than "none" (nothing is signalled).
    const title = pid === null ? null : processIdentity(pid)?.title;
    const other = title && isLiveMaster(pid as number, undefined, this.owner) ? /^\[([^\]]+)\]/.exec(title)?.[1] : undefined;
    if (other !== undefined) {
      throw new ControlError(
        `pid file ${this.pidFile} names process ${pid} titled "${title}", not "${masterTitle(this.name)}": ` +
          `pass --name ${other} (or the config the master runs with)`,
      );
    }
    throw new ControlError(`no master is running (pid file ${this.pidFile})`);
  }

  alive(master: FoundMaster): boolean {
    return isLiveMaster(master.pid, master.name, this.owner);
  }

  /** With an automatic hand-over the old master may be gone before we look: the pid file tells. */
  successorOf(old: FoundMaster): FoundMaster | null {
    const now = this.pidInFile();
    return now !== null && now !== old.pid && isLiveMaster(now, this.name, this.owner) ? this.found(now) : null;
  }

  private pidInFile(): number | null {
    try {
      return readPidChecked(this.pidFile, this.owner);
    } catch (err) {
      if (err instanceof UnsafeFileError) throw new ControlError(`pid file not trusted: ${err.message}`);
      throw err;
    }
  }

  private status(pid: number): ReturnType<typeof readStatusChecked> {
    try {
      return readStatusChecked(this.pidFile, pid, this.owner);
    } catch (err) {
      if (err instanceof UnsafeFileError) throw new ControlError(`status file not trusted: ${err.message}`);
      throw err;
    }
  }
}

/**
 * The registry of this user's masters: the one of the name given, else the only one running.
 * An old master whose USR2 successor runs counts as that successor (registry.ts: currentMasters).
 */
export class RegistryFinder implements Finder {
  readonly dir: string;
  private readonly owner = ourUid();

  constructor(
    runDir: string | null,
    private readonly name: string | null,
    private readonly warn: (line: string) => void,
  ) {
    const dir = runDirFor(runDir);
    if (dir === null) throw new ControlError('this platform has no per-user run directory: pass --pid FILE (or set "pid" in the config)');
    this.dir = dir;
  }

  /** Every live master of ours registered here (untrusted entries warned about, stale ones cleaned). */
  list(): Listing {
    let listing: Listing;
    try {
      listing = listMasters(this.dir);
    } catch (err) {
      if (err instanceof UnsafeFileError) throw new ControlError(`${err.message}; pass --pid FILE to find a master through its pid file`);
      throw err;
    }
    for (const { reason } of listing.ignored) this.warn(reason);
    return listing;
  }

  find(): FoundMaster {
    const { masters } = this.list();
    const named = this.name === null ? masters : masters.filter((m) => m.name === this.name);
    const meant = currentMasters(named);
    if (meant.length === 1) return this.found(meant[0]!);
    if (meant.length > 1) {
      const which = this.name === null ? '' : ` named ${this.name}`;
      throw new ControlError(
        `${meant.length} masters${which} are running: refused (pass ${this.name === null ? '--name NAME or ' : ''}--pid FILE to say which)\n` +
          mastersTable(meant).join('\n'),
      );
    }
    if (this.name !== null && masters.length > 0) {
      const others = [...new Set(masters.map((m) => m.name))].join(', ');
      throw new ControlError(`no master named ${this.name} is running (registered in ${this.dir}: ${others})`);
    }
    throw new ControlError(`no master is running (none registered in ${this.dir}; for a master started with another run directory, pass --pid FILE or --run-dir DIR)`);
  }

  alive(master: FoundMaster): boolean {
    return isLiveMaster(master.pid, master.name, this.owner);
  }

  successorOf(old: FoundMaster): FoundMaster | null {
    const next = this.list().masters.find((m) => m.parent === old.pid && m.name === old.name);
    return next === undefined ? null : this.found(next);
  }

  private found(entry: RegistryEntry): FoundMaster {
    return { pid: entry.pid, name: entry.name, files: { status: entry.statusFile, stats: entry.statsFile, owner: this.owner } };
  }
}
