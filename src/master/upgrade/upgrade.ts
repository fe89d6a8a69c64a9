// Everything USR2, as the master loop sees it: the successor this master may start (old side)
// and the parent that may have started it (new side). The loop calls these; the details live in
// successor.ts, parent.ts, reexec.ts (the spawn) and inherit.ts (the sockets on the new side).
// Runs in: master.

import { LOG, type Logger } from '../../log.js';
import type { BoundListener } from '../listeners/listeners.js';
import type { System } from '../system.js';
import { ParentSide } from './parent.js';
import type { SuccessorEvents } from './reexec.js';
import { SuccessorSide } from './successor.js';

export class Upgrade {
  private readonly successor: SuccessorSide;
  private readonly parent: ParentSide;

  constructor(
    private readonly system: System,
    private readonly log: Logger,
    private readonly pidFile: string | null,
    parentMaster: number | null,
  ) {
    this.successor = new SuccessorSide(system, log, pidFile);
    this.parent = new ParentSide(system, log, pidFile, parentMaster);
  }

  get counts(): { started: number; failed: number; lost: number } {
    return this.successor.counts;
  }

  /**
   * USR2. Refused while the master we replace still runs: a successor of ours would move our
   * pid file over the `.oldbin` that names it, and the old master would be named nowhere.
   */
  start(name: string, listeners: readonly BoundListener[], events: SuccessorEvents): void {
    if (this.parent.alive()) {
      this.log.warn(LOG.REEXEC_REFUSED, {
        old_master_pid: this.parent.pid,
        reason: 'the master this one replaces still runs: QUIT it (or back out) first',
      });
      return;
    }
    this.successor.start(name, listeners, events);
  }

  successorReady(pid: number, handover: string): void {
    this.successor.ready(pid, handover);
  }

  successorExited(name: string, pid: number, code: number | null, signal: NodeJS.Signals | null): void {
    this.successor.exited(name, pid, code, signal);
  }

  /** Every turn (forget a parent that is gone). */
  duties(): void {
    this.parent.check();
  }

  /** Another master serves from our sockets: closing them (or their Unix socket files) would hurt it. */
  socketsShared(): boolean {
    return this.successor.alive() || this.parent.alive();
  }

  /** Our workers are all ready for the first time. */
  announceReady(handover: 'auto' | 'manual'): void {
    this.parent.announceReady(handover);
  }

  /** At final exit: our pid file goes, and the old master's returns if we were backed out. */
  atExit(): void {
    if (this.pidFile === null) return;
    this.system.pidFiles.release(this.pidFile);
    this.parent.restorePidFileAtExit();
  }

  successorSnapshot(): { pid: number; ready: boolean } | null {
    return this.successor.snapshot();
  }

  get parentPid(): number | null {
    return this.parent.pid;
  }
}
