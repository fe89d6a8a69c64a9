// The lame-duck phase (`lame-duck S`) that comes before a graceful stop: for S seconds every
// worker keeps accepting and serving but fails health checks (/healthz 503), so balancers take
// the instance out of rotation while it still answers; then the stop proceeds as ordered.
// Runs in: master. The master consults it in stop(), in its duties and when it spawns a worker.
//
// Why: once the last listener closes, connections still waiting in the kernel accept queue are
// reset, and a balancer that has not yet noticed the instance going away keeps sending new ones
// there until its health checks fail. Failing the checks first, while still serving, leaves the
// queue empty by the time it closes.

import { LOG, type Logger } from '../../log.js';
import type { WorkerHandle } from '../launcher.js';

export class LameDuck {
  private until: number | null = null;
  private boundMs: number | null = null;
  /** Once per master: the stop that ends lame duck must not start it again. */
  private used = false;

  constructor(private readonly log: Logger) {}

  get active(): boolean {
    return this.until !== null;
  }

  /**
   * A graceful stop was ordered (`boundMs` as stop() got it). Starts lame duck and returns true
   * when `seconds` > 0 and no other master serves from the same sockets: during a USR2 hand-over
   * the successor keeps them open, nothing is queued in vain, and failing its health checks
   * would take the whole address out of rotation.
   */
  begin(now: number, seconds: number, boundMs: number | null, socketsShared: boolean, workers: Iterable<WorkerHandle>): boolean {
    if (this.used || seconds <= 0 || socketsShared) return false;
    this.used = true;
    this.until = now + seconds * 1000;
    this.boundMs = boundMs;
    this.log.info(LOG.LAME_DUCK, { seconds, then: boundMs === null ? 'graceful-stop' : 'bounded-stop' });
    for (const worker of workers) this.tell(worker);
    return true;
  }

  /** A worker that became ready during lame duck (its boot may have missed the message). */
  tell(worker: WorkerHandle): void {
    if (this.active) worker.send({ type: 'lame-duck' });
  }

  /** Once the time is up: the bound of the stop to carry out now (ends lame duck). */
  takeDue(now: number): { boundMs: number | null } | null {
    if (this.until === null || now < this.until) return null;
    this.until = null;
    return { boundMs: this.boundMs };
  }

  /** A second TERM or INT: lame duck ends here, the caller stops at once. */
  cancel(): void {
    this.until = null;
  }
}
