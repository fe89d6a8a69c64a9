// The master's stop as a phase of its loop (QUIT graceful, TERM graceful but bounded by
// `shutdown-timeout`, INT immediate): orders every worker, escalates like nginx, stops
// accepting at once, and says when the master may exit (never while a worker it started lives).
// Runs in: master.

import { LOG, type Logger } from '../../log.js';
import type { DesiredNow } from '../desired.js';
import type { Supervisor } from '../supervision/supervisor.js';
import type { System } from '../system.js';
import type { StopOrder } from '../supervision/worker-table.js';

const IMMEDIATE_KILL_AFTER_MS = 1000;

export interface StopHost {
  readonly system: System;
  readonly log: Logger;
  readonly desired: DesiredNow;
  readonly supervisor: Supervisor;
  /** Another master (our successor, or the one we replace) serves from our sockets. */
  socketsShared(): boolean;
}

export class Stop {
  private deadline: number | null;
  private listenersClosed = false;

  constructor(
    private readonly host: StopHost,
    private order: 'graceful' | 'immediate',
    boundMs: number | null,
    public exitCode: number,
  ) {
    const now = host.system.clock();
    this.deadline = boundMs === null ? null : now + boundMs;
    host.log.info(LOG.STOPPING, { mode: order, deadline_s: boundMs === null ? undefined : boundMs / 1000 });
    host.supervisor.orderAll(order, 'shutdown');
    // Stop accepting at once: with the master's copy closed, the sockets close as soon as the
    // workers close theirs (they do on QUIT), and a new client is refused instead of waiting
    // in a queue nobody will accept from. Not when another master serves from them.
    this.closeListeners();
  }

  /** Another stop signal: a TERM or INT during a graceful stop makes it immediate; QUIT changes nothing. */
  again(order: 'graceful' | 'immediate', boundMs: number | null, exitCode: number, defaultExit: number): void {
    if (exitCode !== defaultExit) this.exitCode = exitCode;
    if (this.order !== 'graceful' || (order === 'graceful' && boundMs === null)) return;
    this.order = 'immediate';
    this.host.log.info(LOG.STOPPING, { mode: 'immediate' });
    this.host.supervisor.orderAll('immediate', 'shutdown');
  }

  /** Duties while stopping; returns true once no worker is left and the master may exit. */
  advance(now: number): boolean {
    const { supervisor, log } = this.host;
    const table = supervisor.table;
    for (const worker of table.all()) {
      if (worker.stopOrder === 'immediate' && now - worker.stopSentAt > IMMEDIATE_KILL_AFTER_MS) {
        supervisor.order(worker, 'kill', 'shutdown');
      }
    }
    if (this.deadline !== null && now >= this.deadline && table.size > 0) {
      log.warn(LOG.STOP_ESCALATE, { remaining: table.size, pids: table.pids().join(',') });
      supervisor.orderAll('kill' satisfies StopOrder, 'shutdown-timeout');
      this.deadline = null;
    }
    return table.size === 0;
  }

  /** Closes the master's copies of the sockets (and removes Unix socket files) unless shared. */
  closeListeners(): void {
    if (this.listenersClosed || this.host.socketsShared()) return;
    this.listenersClosed = true;
    const { listeners } = this.host.desired();
    for (const listener of listeners) this.host.system.closeListener(listener);
    if (listeners.length > 0) {
      this.host.log.info(LOG.LISTENER_CLOSED, { listen: listeners.map((l) => l.bound).join(','), why: 'stopping' });
    }
  }
}
