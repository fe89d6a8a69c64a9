// Counts an event that can happen once per client (a line timeout, a refusal for lack of buffer, a
// PROXY header refused, an HTTP client error) and logs it at most once per interval, with the count
// since the last line and the total: a flood of hostile clients must not turn into a flood of log
// lines. The first event is logged at once; a line carries the details (peer, code) of the event
// that wrote it, or at flush() of the last one held back.
// Runs in: workers.

import type { Fields, Logger } from '../log.js';

/** At most one line per event kind per this many milliseconds (and one more at flush()). */
export const EVENT_LOG_INTERVAL_MS = 10_000;

/** Counters flushed at exit, by one 'exit' listener (one each would pass the listener warning). */
const atExit = new Set<EventCounter>();

export class EventCounter {
  /** Since the worker started. */
  total = 0;
  private unlogged = 0;
  private nextLogAt = 0;
  private latest: Fields = {};

  constructor(
    private readonly log: Logger,
    private readonly level: 'info' | 'warn',
    private readonly event: string,
    private readonly fields: Fields = {},
    private readonly intervalMs = EVENT_LOG_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * `n` more events (the native line path reports them in batches); `details`: of the latest one.
   * True when this call wrote the line; false when it was held back, in which case the event is
   * still logged on its own at debug level (RAAS_DEBUG), for whoever is tracing one client.
   */
  note(n = 1, details?: Fields): boolean {
    if (n <= 0) return false;
    if (details !== undefined) this.latest = details;
    this.total += n;
    this.unlogged += n;
    const now = this.now();
    if (now < this.nextLogAt) {
      if (details !== undefined) this.log.debug(this.event, { ...this.fields, ...details });
      return false;
    }
    this.nextLogAt = now + this.intervalMs;
    this.write();
    return true;
  }

  /** Logs what the rate limit held back (a draining worker says so before it exits). */
  flush(): void {
    if (this.unlogged > 0) this.write();
  }

  /**
   * flush() when the process exits (process.exit() included): for counters with no drain step of
   * their own. The line is written synchronously (Logger writes with writeSync).
   */
  flushAtExit(): this {
    if (atExit.size === 0) process.once('exit', () => atExit.forEach((counter) => counter.flush()));
    atExit.add(this);
    return this;
  }

  private write(): void {
    this.log[this.level](this.event, { ...this.fields, ...this.latest, count: this.unlogged, total: this.total });
    this.unlogged = 0;
  }
}
