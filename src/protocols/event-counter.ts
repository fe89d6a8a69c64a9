// Counts an event that can happen once per client (a line timeout, a refusal for lack of buffer)
// and logs it at most once per interval, with the count since the last line and the total: a
// flood of hostile clients must not turn into a flood of log lines.
// Runs in: workers.

import type { Fields, Logger } from '../log.js';

/** At most one line per event kind per this many milliseconds (and one more at flush()). */
export const EVENT_LOG_INTERVAL_MS = 10_000;

export class EventCounter {
  /** Since the worker started. */
  total = 0;
  private unlogged = 0;
  private nextLogAt = 0;

  constructor(
    private readonly log: Logger,
    private readonly level: 'info' | 'warn',
    private readonly event: string,
    private readonly fields: Fields = {},
    private readonly intervalMs = EVENT_LOG_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** `n` more events (the native line path reports them in batches). */
  note(n = 1): void {
    if (n <= 0) return;
    this.total += n;
    this.unlogged += n;
    const now = this.now();
    if (now < this.nextLogAt) return;
    this.nextLogAt = now + this.intervalMs;
    this.write();
  }

  /** Logs what the rate limit held back (a draining worker says so before it exits). */
  flush(): void {
    if (this.unlogged > 0) this.write();
  }

  private write(): void {
    this.log[this.level](this.event, { ...this.fields, count: this.unlogged, total: this.total });
    this.unlogged = 0;
  }
}
