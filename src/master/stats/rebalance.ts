// Keep-alive rebalancing: the pure rule. Connections stay with the worker that accepted them,
// and that worker is whichever woke first: a burst of new keep-alive connections (a balancer
// filling its pool, a load test) splits 45/6 or 7/43 between two workers, and a worker added by
// TTIN or respawned after a crash gets none of the connections already open. So once the total
// has held still for a beat, the supervisor compares the workers' open connections; when one
// holds clearly more than its share, it asks that worker to shed the excess (`{type: 'shed'}`):
// the worker answers keep-alive responses with `Connection: close` (never cutting a request)
// until its own count is down to its share, those clients reconnect, and the kernel hands each
// new connection to whichever worker accepts first (about half come back). The master knows
// nothing of protocols: a worker sheds only what it can (HTTP keep-alive connections above the
// target; never WebSockets, never line connections, which are short-lived anyway).
// Runs in: master.

/** Over this many times the mean is an excess worth shedding... */
const OVER_MEAN = 1.05;
/** ...if it is also this many connections or more. */
const MIN_EXCESS = 2;
/** A worker told to shed is left alone this long: the next beats show the effect first. */
export const SHED_INTERVAL_MS = 1500;
/**
 * How long the total of open connections must hold still before the split is judged. While a
 * burst is still landing (a balancer filling its pool, clients reconnecting after a restart) a
 * beat's split is a moment of the ramp: a worker told then to shed down to a third of a total
 * still growing would hand nearly everything to the others.
 */
export const HOLD_STILL_MS = 1000;

export interface ConnectionCount {
  id: number;
  open: number;
}

export interface ShedOrder {
  id: number;
  /** How many connections to let go. */
  connections: number;
  /** The share each worker should hold: a worker never sheds below it. */
  target: number;
}

/** The worker to shed from, or null when the split is fair enough (or there is nothing to split). */
export function shedOrder(workers: readonly ConnectionCount[]): ShedOrder | null {
  if (workers.length < 2) return null;
  const total = workers.reduce((n, w) => n + w.open, 0);
  const mean = total / workers.length;
  let heaviest = workers[0]!;
  for (const w of workers) if (w.open > heaviest.open) heaviest = w;
  if (heaviest.open <= mean * OVER_MEAN || heaviest.open - mean < MIN_EXCESS) return null;
  const target = Math.ceil(mean);
  return { id: heaviest.id, connections: heaviest.open - target, target };
}

/** The total of open connections the master last saw move, and since when. */
export interface TotalWatch {
  total: number;
  since: number;
}

/**
 * Whether the total of open connections has held still (within MIN_EXCESS, or a tenth of it) for
 * HOLD_STILL_MS; a move restarts the watch.
 */
export function heldStill(watch: TotalWatch, workers: readonly ConnectionCount[], now: number): boolean {
  const total = workers.reduce((n, w) => n + w.open, 0);
  if (Math.abs(total - watch.total) > Math.max(MIN_EXCESS, total * 0.1)) {
    watch.total = total;
    watch.since = now;
  }
  return now - watch.since >= HOLD_STILL_MS;
}
