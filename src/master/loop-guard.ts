// Counts the errors the master loop caught in its own handlers and decides when the master's
// state can no longer be trusted: a few errors are logged and survived; many in a short window
// mean a bug that repeats on every turn, and the master stops (gracefully first, then at once).
// Runs in: master (pure decisions over an injected clock).

export type LoopVerdict = 'carry-on' | 'stop' | 'abandon';

export class LoopGuard {
  private readonly times: number[] = [];
  private stopOrdered = false;
  private errorsSinceStop = 0;

  /**
   * @param limit errors within `windowMs` that end the master gracefully; as many again after
   *   that (the graceful stop itself keeps failing) and it leaves at once.
   */
  constructor(
    readonly limit = 5,
    readonly windowMs = 10_000,
  ) {}

  record(now: number): LoopVerdict {
    if (this.stopOrdered) {
      this.errorsSinceStop += 1;
      return this.errorsSinceStop >= this.limit ? 'abandon' : 'carry-on';
    }
    this.times.push(now);
    while (this.times.length > 0 && now - (this.times[0] as number) > this.windowMs) this.times.shift();
    if (this.times.length < this.limit) return 'carry-on';
    this.stopOrdered = true;
    return 'stop';
  }

  /** Errors counted in the current window (for the log). */
  get recent(): number {
    return this.times.length;
  }
}
