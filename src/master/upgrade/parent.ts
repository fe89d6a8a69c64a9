// The new master's side of a USR2 upgrade: the old master that started it (its parent), which it
// tells once every worker is ready (and quits, with `upgrade-handover auto`), whose sockets it
// must not close while that one lives, and whose pid file returns if we back out.
// Runs in: master (one started by USR2; for any other master `pid` is null from the start).

import { LOG, type Logger } from '../../log.js';
import type { System } from '../system.js';
import { errorMessage } from '../../errors.js';

export class ParentSide {
  constructor(
    private readonly system: System,
    private readonly log: Logger,
    private readonly pidFile: string | null,
    /** The old master, while it lives; null for a master nobody is replacing. */
    private parent: number | null,
  ) {}

  get pid(): number | null {
    return this.parent;
  }

  /**
   * Every turn: once the old master is gone we were re-parented (getppid changed), and it is
   * forgotten, so that no later decision (a USR2, sockets to close, a pid file to restore) acts
   * on a pid the OS may have given to someone else.
   */
  check(): void {
    if (this.parent === null || this.system.parentPid() === this.parent) return;
    this.log.info(LOG.OLD_MASTER_GONE, { old_master_pid: this.parent });
    this.parent = null;
  }

  /** The old master still serves from the same sockets. */
  alive(): boolean {
    this.check();
    return this.parent !== null && this.system.isLiveMaster(this.parent);
  }

  /** Once all our workers are ready: tell the old master, and quit it if asked. */
  announceReady(handover: 'auto' | 'manual'): void {
    if (this.parent === null) return;
    this.system.notifyParentReady();
    if (handover !== 'auto') return;
    this.log.info(LOG.REEXEC_HANDOVER, { old_master_pid: this.parent });
    this.system.signal(this.parent, 'SIGQUIT');
  }

  /** At our exit, backing out of an upgrade: the old master serves on, so its pid file returns. */
  restorePidFileAtExit(): void {
    if (this.pidFile === null || !this.alive()) return;
    const files = this.system.pidFiles;
    try {
      if (files.readPid(files.oldbinPath(this.pidFile)) === this.parent) files.restoreFromOldbin(this.pidFile, this.parent!);
    } catch (err) {
      this.log.error(LOG.PIDFILE_ERROR, { error: errorMessage(err) });
    }
  }
}
