// Recycling (`max-requests` with `max-requests-jitter`, as gunicorn's; `max-memory`, as PM2's
// max_memory_restart): the pure rules. The supervisor reads each ready worker's last beat
// against them, marks a worker that passed a limit, spawns its replacement into the same slot,
// and stops it gracefully only once the replacement is ready (supervisor.ts).
// Runs in: master.

import type { Settings } from '../config/settings.js';
import type { WorkerStats } from '../ipc.js';

export type RecycleReason = 'max-requests' | 'max-memory';

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
  fields: Record<string, number>;
}

/** Which limit, if any, a worker's last beat has passed (the request limit first). */
export function limitPassed(stats: WorkerStats | null, requestLimit: number | null, maxMemory: number): LimitPassed | null {
  if (stats === null) return null;
  if (requestLimit !== null) {
    const requests = requestsServed(stats);
    if (requests >= requestLimit) return { reason: 'max-requests', fields: { requests, limit: requestLimit } };
  }
  if (maxMemory > 0 && stats.rss > maxMemory) return { reason: 'max-memory', fields: { rss: stats.rss, max_memory: maxMemory } };
  return null;
}
