// Recycling (`max-requests` with `max-requests-jitter`, as gunicorn's; `max-memory`, as PM2's
// max_memory_restart; a zero-code app that stopped listening): the pure rules. The master draws
// each worker's request limit at spawn and sends it once the worker is ready; the worker counts
// its own requests and asks for its replacement the moment it reaches the limit (src/worker/
// runtime.ts), as it does when its app stopped listening. max-memory is read from the beats. The
// supervisor marks the worker, spawns its replacement into the same slot, and stops it gracefully
// only once the replacement is ready (supervisor.ts).
// Runs in: master.

import type { Settings } from '../../config/settings.js';
import type { WorkerRecycleReason, WorkerStats } from '../../ipc.js';

export type RecycleReason = WorkerRecycleReason | 'max-memory';

/**
 * Which recycle goes first when several are due (one recycle at a time): a worker whose app no
 * longer listens serves nothing on that listener, a limit passed is only a precaution.
 */
export const RECYCLE_PRIORITY: Record<RecycleReason, number> = { 'not-listening': 0, 'max-requests': 1, 'max-memory': 2 };

/**
 * A new worker's own request limit: max-requests plus a whole number drawn from 0..jitter
 * (both ends included), so workers started together do not all recycle together. `random`
 * returns a number in [0, 1) (Math.random, or a test's sequence); null: no limit.
 */
export function drawRequestLimit(settings: Pick<Settings, 'maxRequests' | 'maxRequestsJitter'>, random: () => number): number | null {
  if (settings.maxRequests <= 0) return null;
  const jitter = Math.max(0, Math.floor(settings.maxRequestsJitter));
  return settings.maxRequests + Math.min(jitter, Math.floor(random() * (jitter + 1)));
}

/** Requests a worker answered since it started: HTTP requests and line connections, all listeners. */
export function requestsServed(stats: WorkerStats): number {
  let n = 0;
  for (const listener of Object.values(stats.listeners)) n += listener.requests;
  return n;
}

export interface LimitPassed {
  reason: RecycleReason;
  /** What the log line says: the measured value and the limit it passed. */
  fields: Record<string, string | number>;
}

/** Whether a worker's last beat has passed `max-memory` (0: off). */
export function memoryPassed(stats: WorkerStats | null, maxMemory: number): LimitPassed | null {
  if (stats === null || maxMemory <= 0 || stats.rss <= maxMemory) return null;
  return { reason: 'max-memory', fields: { rss: stats.rss, max_memory: maxMemory } };
}
