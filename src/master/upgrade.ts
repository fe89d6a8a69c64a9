// The old master's side of a USR2 upgrade: the successor it started, the pid file's move to
// `.oldbin` and back, its "(old)" title, and the counts the control command reads.
// Runs in: master.

import { LOG, type Logger } from '../log.js';
import { masterTitle, setProcessTitle } from '../process-title.js';
import type { BoundListener } from './listeners.js';
import { moveToOldbin, restoreFromOldbin } from './pidfile.js';
import { startSuccessor, type Successor, type SuccessorEvents } from './reexec.js';

export class Upgrade {
  private successor: Successor | null = null;
  readonly counts = { started: 0, failed: 0 };

  constructor(
    private readonly log: Logger,
    private readonly pidFile: string | null,
  ) {}

  /** USR2: starts a new master on our sockets, unless one is already on its way. */
  start(name: string, listeners: readonly BoundListener[], events: SuccessorEvents): void {
    if (this.successor) {
      this.log.warn(LOG.REEXEC_IGNORED, { new_master_pid: this.successor.pid, ready: this.successor.ready });
      return;
    }
    this.pidFileStep(moveToOldbin);
    this.successor = startSuccessor(listeners, events);
    this.counts.started += 1;
    setProcessTitle(masterTitle(name, true));
    this.log.info(LOG.REEXEC_START, { new_master_pid: this.successor.pid });
  }

  ready(pid: number, handover: string): void {
    this.log.info(LOG.REEXEC_READY, { new_master_pid: pid, handover });
  }

  /** The successor exited: before it was ready we carry on as before, pid file restored. */
  exited(name: string, pid: number, code: number | null, signal: NodeJS.Signals | null): void {
    const successor = this.successor;
    this.successor = null;
    setProcessTitle(masterTitle(name));
    if (successor && !successor.ready) {
      this.counts.failed += 1;
      this.log.error(LOG.REEXEC_FAILED, { new_master_pid: pid, code, signal });
      this.pidFileStep(restoreFromOldbin);
      return;
    }
    this.log.info(LOG.REEXEC_BACKOUT, { new_master_pid: pid, code, signal });
  }

  /** A live successor serves from our sockets: they must outlive us. */
  successorAlive(): boolean {
    const child = this.successor?.child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  snapshot(): { pid: number; ready: boolean } | null {
    return this.successor ? { pid: this.successor.pid, ready: this.successor.ready } : null;
  }

  private pidFileStep(step: (path: string) => void): void {
    if (this.pidFile === null) return;
    try {
      step(this.pidFile);
    } catch (err) {
      this.log.error(LOG.PIDFILE_ERROR, { error: err instanceof Error ? err.message : String(err) });
    }
  }
}

/** In the new master, once all its workers are ready: tell the old one, and quit it if asked. */
export function announceToParent(log: Logger, parent: number, handover: 'auto' | 'manual', notify: () => void): void {
  notify();
  if (handover !== 'auto') return;
  log.info(LOG.REEXEC_HANDOVER, { old_master_pid: parent });
  try {
    process.kill(parent, 'SIGQUIT');
  } catch {
    // the old master is gone already
  }
}
