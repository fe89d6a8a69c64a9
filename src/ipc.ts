// The master <-> worker channel: message shapes carried over the 'ipc' stdio pipe, and the
// boot configuration a worker reads from its environment.
// Runs in: master and workers (types and pure helpers only).

import type { Settings } from './config/settings.js';

/**
 * Master -> worker. Stop orders travel as signals (QUIT, INT, KILL: see src/signals.ts), which
 * also reach a worker whose channel is backed up; reopening logs travels here because USR1
 * sent to a worker that has not installed its handlers yet would start Node's inspector.
 * `lame-duck`: a graceful stop is coming (the `lame-duck` setting): keep serving, but fail
 * health checks (/healthz 503) so balancers stop sending new connections first.
 */
export type MasterMessage =
  | { type: 'reopen-logs' }
  | { type: 'lame-duck' }
  /** Let `connections` keep-alive connections go, never falling below `target` (master/stats/rebalance.ts). */
  | { type: 'shed'; connections: number; target: number }
  /**
   * This worker's own `max-requests` limit, jitter included (drawn by the master at spawn, sent
   * once it is ready): the worker counts its requests and asks for its replacement at the limit.
   */
  | { type: 'request-limit'; limit: number };

/** Worker -> master. */
export type WorkerMessage =
  /** Every listener is accepting: the worker counts as ready. */
  | { type: 'ready' }
  /** The event loop is alive (sent every heartbeat interval), with the worker's counters. */
  | { type: 'beat'; stats?: WorkerStats }
  /** The worker is leaving on its own (uncaught exception): replace it now, it drains meanwhile. */
  | { type: 'retiring'; reason: string }
  /**
   * It cannot boot and exits next: `error` is the app's error in one line, where it was thrown
   * (errorSummary). The master repeats the first one in its crash-loop halt.
   */
  | { type: 'boot-failed'; error: string }
  /**
   * The worker passed a limit it checks itself: replace it. It serves on, and drains only when the
   * master tells it to, once the replacement is ready (master/supervision/supervisor.ts recycle()). `details`:
   * what the log line says (max-requests: requests and limit; not-listening: the listener).
   */
  | { type: 'recycle'; reason: WorkerRecycleReason; details: Record<string, string | number> };

/**
 * Why a worker asks to be replaced. `max-requests`: it answered its limit of requests.
 * `not-listening`: a zero-code app closed its server on an http:// listener and did not listen
 * on it again within `boot-timeout` (protocols/http/listen-router.ts).
 */
export type WorkerRecycleReason = 'max-requests' | 'not-listening';
const WORKER_RECYCLE_REASONS: ReadonlySet<string> = new Set<WorkerRecycleReason>(['max-requests', 'not-listening']);

/**
 * What a worker reports with every beat. Counters are cumulative since the worker started (the
 * master turns them into totals that survive worker exits); gauges are values of now.
 */
export interface WorkerStats {
  /** Keyed by the listener's address as in WorkerListener.address. */
  listeners: Record<string, ListenerStats>;
  /** HTTP requests and line-protocol connections being served right now. */
  inFlight: number;
  /** Connections open now, idle keep-alive ones included: what a kill would cut. */
  openConnections: number;
  /** Resident set size and V8 heap used, bytes. */
  rss: number;
  heapUsed: number;
  /** Event-loop utilization over the last beat interval, 0..1. */
  elu: number;
  /** Event-loop delay p99 over the last beat interval, milliseconds. */
  loopDelayP99Ms: number;
}

export interface ListenerStats {
  /** 'line' or 'http'. */
  protocol: string;
  /** HTTP requests answered; line-protocol connections answered. */
  requests: number;
  /** Connections accepted. */
  connections: number;
  /** Requests answered with an error (HTTP 5xx, line ERR replies), client errors, handler errors. */
  errors: number;
  /** Request latency histogram: counts per bucket of LATENCY_BUCKETS_S (last bucket +Inf), sum in seconds. */
  latency: { buckets: number[]; sum: number; count: number };
  /** HTTP: requests answered by status class, [1xx, 2xx, 3xx, 4xx, 5xx] (absent for the line protocol). */
  statusClasses?: number[];
  /** HTTP: requests handed to an upgrade handler (WebSocket handshakes); not in `requests`. */
  upgrades?: number;
}

/** The status classes of ListenerStats.statusClasses, in order. */
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/**
 * Upper bounds (seconds) of the latency histogram buckets; a final +Inf bucket follows. Defined
 * here only: the line protocol's C path counts in the same buckets, LATENCY_BUCKETS_US of
 * native/line-contract.h, generated from this (scripts/line-contract.mjs).
 */
export const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** One inherited listening socket as the worker sees it. */
export interface WorkerListener {
  /** File descriptor number in the worker (3, 4, ...). */
  fd: number;
  /** Opaque to the master: 'line' or 'http'. */
  protocol: string;
  /** The address as the user wrote it, for logs. */
  address: string;
  /**
   * What the master bound, for the worker to check the fd against before it listens (a socket
   * whose bind failed would auto-bind to a random port on every interface at listen(2)).
   * TCP: host, port (the real one, never 0) and family; Unix: path. Absent: not checked.
   */
  host?: string;
  port?: number;
  family?: 4 | 6;
  path?: string;
}

/** Everything a worker needs to boot, passed in the WORKER_CONFIG_ENV environment variable. */
export interface WorkerBootConfig {
  slot: number;
  generation: number;
  masterPid: number;
  heartbeatMs: number;
  listeners: WorkerListener[];
  settings: Settings;
  /** The pipe the master writes stuck-report paths to (src/worker/watchdog.ts); null: no watchdog. */
  watchdogFd?: number | null;
  /** Spawned while the master is a lame duck: start lame (as if told `lame-duck` at once). */
  lameDuck?: boolean;
}

export const WORKER_CONFIG_ENV = 'RAAS_WORKER_CONFIG';

/** How often workers beat: often enough that a short `timeout` still sees several beats. */
export function heartbeatInterval(timeoutSeconds: number): number {
  return Math.max(100, Math.min(1000, Math.floor((timeoutSeconds * 1000) / 4)));
}

export function isWorkerMessage(value: unknown): value is WorkerMessage {
  if (typeof value !== 'object' || value === null) return false;
  const type = (value as { type?: unknown }).type;
  if (type === 'recycle') {
    const { reason, details } = value as { reason?: unknown; details?: unknown };
    return typeof reason === 'string' && WORKER_RECYCLE_REASONS.has(reason) && typeof details === 'object' && details !== null;
  }
  if (type === 'boot-failed') return typeof (value as { error?: unknown }).error === 'string';
  return type === 'ready' || type === 'beat' || type === 'retiring';
}

export function isMasterMessage(value: unknown): value is MasterMessage {
  if (typeof value !== 'object' || value === null) return false;
  const type = (value as { type?: unknown }).type;
  if (type === 'shed') {
    const { connections, target } = value as { connections?: unknown; target?: unknown };
    return Number.isInteger(connections) && Number.isInteger(target);
  }
  if (type === 'request-limit') {
    const { limit } = value as { limit?: unknown };
    return Number.isInteger(limit) && (limit as number) > 0;
  }
  return type === 'reopen-logs' || type === 'lame-duck';
}
