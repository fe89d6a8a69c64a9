// Accept errors of one listening server (EMFILE, ENFILE, ENOBUFS when the worker or the system is
// out of fds or memory), logged at most once a second with the count of those suppressed
// meanwhile, as nginx does. The server keeps listening: an accept error is about one connection.
// Runs in: workers.

import { LOG, type Logger } from '../log.js';

const INTERVAL_MS = 1000;

export class AcceptErrorLog {
  private lastLoggedAt = -Infinity;
  private suppressed = 0;
  private flushTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly log: Logger,
    private readonly listen: string,
    private readonly now: () => number = Date.now,
  ) {}

  report(err: Error): void {
    const at = this.now();
    if (at - this.lastLoggedAt >= INTERVAL_MS) {
      this.write(describe(err), at);
      return;
    }
    this.suppressed++;
    // The count of the last burst must be told even if no error follows it.
    if (this.flushTimer === null) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = null;
        if (this.suppressed > 0) this.write(describe(err), this.now());
      }, INTERVAL_MS - (at - this.lastLoggedAt));
      this.flushTimer.unref();
    }
  }

  private write(error: string, at: number): void {
    this.log.warn(LOG.ACCEPT_ERROR, { listen: this.listen, error, suppressed: this.suppressed });
    this.lastLoggedAt = at;
    this.suppressed = 0;
  }
}

function describe(err: Error): string {
  return (err as NodeJS.ErrnoException).code ?? err.message;
}
