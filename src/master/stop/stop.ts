// The master's stop as a phase of its loop (QUIT graceful, TERM graceful but bounded by
// `shutdown-timeout`, INT immediate): orders every worker, escalates like nginx, stops
// accepting at once, and says when the master may exit (never while a worker it started lives).
// Runs in: master.
//
// Like the reload, the stop never touches the workers itself: it reads them through a view and
// returns the orders it wants (StopOrders), which the master's loop hands to the supervisor.

import { LOG, type Logger } from '../../log.js';
import type { DesiredNow } from '../desired.js';
import type { System } from '../system.js';
import type { StopOrder, WorkerRecord } from '../supervision/worker-table.js';

const IMMEDIATE_KILL_AFTER_MS = 1000;

/** What the stop reads of a worker. */
export type StoppingWorker = Readonly<Pick<WorkerRecord, 'id' | 'stopOrder' | 'stopSentAt' | 'handle'>>;

/** One order for the supervisor: to every worker, or to one by its id. A weaker order than one already sent is a no-op there. */
export interface WorkerOrder {
  readonly to: 'all' | number;
  readonly order: StopOrder;
  readonly reason: string;
}

export type StopOrders = readonly WorkerOrder[];

export interface StopHost {
  readonly system: System;
  readonly log: Logger;
  readonly desired: DesiredNow;
  /** Every worker the master still has (any generation, any state). */
  workers(): readonly StoppingWorker[];
  /** Another master (our successor, or the one we replace) serves from our sockets. */
  socketsShared(): boolean;
}

export class Stop {
  private deadline: number | null;
  private listenersClosed = false;

  constructor(
    private readonly host: StopHost,
    private order: 'graceful' | 'immediate',
    private readonly boundMs: number | null,
    public exitCode: number,
  ) {
    this.deadline = boundMs === null ? null : host.system.clock() + boundMs;
  }

  /** The stop's first instant: every worker is told, and the master stops accepting. */
  begin(): StopOrders {
    const { boundMs } = this;
    this.host.log.info(LOG.STOPPING, { mode: this.order, deadline_s: boundMs === null ? undefined : boundMs / 1000 });
    // Stop accepting at once: with the master's copy closed, the sockets close as soon as the
    // workers close theirs (they do on QUIT), and a new client is refused instead of waiting
    // in a queue nobody will accept from. Not when another master serves from them.
    this.closeListeners();
    return [{ to: 'all', order: this.order, reason: 'shutdown' }];
  }

  /** Another stop signal: a TERM or INT during a graceful stop makes it immediate; QUIT changes nothing. */
  again(order: 'graceful' | 'immediate', boundMs: number | null, exitCode: number, defaultExit: number): StopOrders {
    if (exitCode !== defaultExit) this.exitCode = exitCode;
    if (this.order !== 'graceful' || (order === 'graceful' && boundMs === null)) return [];
    this.order = 'immediate';
    this.host.log.info(LOG.STOPPING, { mode: 'immediate' });
    return [{ to: 'all', order: 'immediate', reason: 'shutdown' }];
  }

  /** Duties while stopping: the escalations due now, and whether the master may exit (no worker left). */
  advance(now: number): { orders: StopOrders; done: boolean } {
    const workers = this.host.workers();
    const orders: WorkerOrder[] = [];
    for (const worker of workers) {
      if (worker.stopOrder === 'immediate' && now - worker.stopSentAt > IMMEDIATE_KILL_AFTER_MS) {
        orders.push({ to: worker.id, order: 'kill', reason: 'shutdown' });
      }
    }
    if (this.deadline !== null && now >= this.deadline && workers.length > 0) {
      this.host.log.warn(LOG.STOP_ESCALATE, { remaining: workers.length, pids: workers.flatMap((w) => (w.handle.pid === undefined ? [] : [w.handle.pid])).join(',') });
      orders.push({ to: 'all', order: 'kill', reason: 'shutdown-timeout' });
      this.deadline = null;
    }
    return { orders, done: workers.length === 0 };
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
