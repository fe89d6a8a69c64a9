// The old master's side of a USR2 upgrade: the successor it started, the pid file's move to
// `.oldbin` and back whenever the successor dies (before or after it was ready, as Unicorn's
// reaper does), its "(old)" title, and the counts the control command reads.
// Runs in: master.

import { LOG, type Logger } from '../../log.js';
import { masterTitle } from '../../process-title.js';
import type { BoundListener } from '../listeners/listeners.js';
import type { System } from '../system.js';
import type { SuccessorEvents, SuccessorProcess } from './reexec.js';
import { errorMessage } from '../../errors.js';

export class SuccessorSide {
  private successor: (SuccessorProcess & { ready: boolean }) | null = null;
  readonly counts = { started: 0, failed: 0, lost: 0 };

  constructor(
    private readonly system: System,
    private readonly log: Logger,
    private readonly pidFile: string | null,
  ) {}

  /** USR2: starts a new master on our sockets, unless one is already on its way. */
  start(name: string, listeners: readonly BoundListener[], events: SuccessorEvents): void {
    if (this.successor) {
      this.log.warn(LOG.REEXEC_IGNORED, { new_master_pid: this.successor.pid, ready: this.successor.ready });
      return;
    }
    this.pidFileStep((files, path) => files.moveToOldbin(path));
    this.successor = { ...this.system.startSuccessor(listeners, events), ready: false };
    this.counts.started += 1;
    this.system.setTitle(masterTitle(name, true));
    this.log.info(LOG.REEXEC_START, { new_master_pid: this.successor.pid });
  }

  ready(pid: number, handover: string): void {
    if (this.successor?.pid === pid) this.successor.ready = true;
    this.log.info(LOG.REEXEC_READY, { new_master_pid: pid, handover });
  }

  /**
   * The successor exited. Whenever it was, we are the master that serves: the pid file names us
   * again (unless another live master claimed it meanwhile), or `raas status` and `raas stop`
   * would say "no master" while we serve.
   */
  exited(name: string, pid: number, code: number | null, signal: NodeJS.Signals | null): void {
    const successor = this.successor;
    if (successor !== null && successor.pid !== pid) return;
    this.successor = null;
    this.system.setTitle(masterTitle(name));
    // The pid file first: whoever reads the log line may look at it at once.
    this.pidFileStep((files, path) => {
      const named = files.readPid(path);
      if (named !== null && named !== pid && named !== process.pid && this.system.isLiveMaster(named)) {
        this.log.warn(LOG.PIDFILE_ERROR, { error: `pid file ${path} names another live master (${named}); left alone` });
        return;
      }
      files.restoreFromOldbin(path);
    });
    if (successor && !successor.ready) {
      this.counts.failed += 1;
      this.log.error(LOG.REEXEC_FAILED, { new_master_pid: pid, code, signal });
    } else if (code === 0) {
      this.log.info(LOG.REEXEC_BACKOUT, { new_master_pid: pid, code, signal });
    } else {
      // Ready, then killed (OOM, SIGKILL) or crashed: nobody asked for this back-out.
      this.counts.lost += 1;
      this.log.error(LOG.REEXEC_LOST, { new_master_pid: pid, code, signal });
    }
  }

  /** A live successor serves from our sockets: they must outlive us. */
  alive(): boolean {
    return this.successor?.alive() === true;
  }

  snapshot(): { pid: number; ready: boolean } | null {
    return this.successor ? { pid: this.successor.pid, ready: this.successor.ready } : null;
  }

  private pidFileStep(step: (files: System['pidFiles'], path: string) => void): void {
    if (this.pidFile === null) return;
    try {
      step(this.system.pidFiles, this.pidFile);
    } catch (err) {
      this.log.error(LOG.PIDFILE_ERROR, { error: errorMessage(err) });
    }
  }
}
