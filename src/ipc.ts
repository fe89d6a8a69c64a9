// The master <-> worker channel: message shapes carried over the 'ipc' stdio pipe, and the
// boot configuration a worker reads from its environment.
// Runs in: master and workers (types and pure helpers only).

import type { Settings } from './config/settings.js';

/**
 * Master -> worker. Stop orders travel as signals (QUIT, INT, KILL: see src/signals.ts), which
 * also reach a worker whose channel is backed up; reopening logs travels here because USR1
 * sent to a worker that has not installed its handlers yet would start Node's inspector.
 */
export type MasterMessage = { type: 'reopen-logs' };

/** Worker -> master. */
export type WorkerMessage =
  /** Every listener is accepting: the worker counts as ready. */
  | { type: 'ready' }
  /** The event loop is alive (sent every heartbeat interval). */
  | { type: 'beat' }
  /** The worker is leaving on its own (uncaught exception): replace it now, it drains meanwhile. */
  | { type: 'retiring'; reason: string };

/** One inherited listening socket as the worker sees it. */
export interface WorkerListener {
  /** File descriptor number in the worker (3, 4, ...). */
  fd: number;
  /** Opaque to the master: 'line' or 'http'. */
  protocol: string;
  /** The address as the user wrote it, for logs. */
  address: string;
}

/** Everything a worker needs to boot, passed in the WORKER_CONFIG_ENV environment variable. */
export interface WorkerBootConfig {
  slot: number;
  generation: number;
  masterPid: number;
  heartbeatMs: number;
  listeners: WorkerListener[];
  settings: Settings;
}

export const WORKER_CONFIG_ENV = 'RAAS_WORKER_CONFIG';

/** How often workers beat: often enough that a short `timeout` still sees several beats. */
export function heartbeatInterval(timeoutSeconds: number): number {
  return Math.max(100, Math.min(1000, Math.floor((timeoutSeconds * 1000) / 4)));
}

export function isWorkerMessage(value: unknown): value is WorkerMessage {
  if (typeof value !== 'object' || value === null) return false;
  const type = (value as { type?: unknown }).type;
  return type === 'ready' || type === 'beat' || type === 'retiring';
}

export function isMasterMessage(value: unknown): value is MasterMessage {
  if (typeof value !== 'object' || value === null) return false;
  const type = (value as { type?: unknown }).type;
  return type === 'reopen-logs';
}
