// Reaps orphaned grandchildren when the master is PID 1 (a container without an init): a
// process a worker's app started and left behind is re-parented to PID 1, and only PID 1 can
// collect it. Node cannot, so a small N-API addon (native/reaper.c, built at install) does.
// Runs in: master.

import { loadAddon } from '../../native.js';

export type ReapOrphans = (knownPids: readonly number[]) => Array<[pid: number, status: number]>;

/** The addon, or null when it was not built (no compiler at install): then we only warn. */
export function loadReaper(): ReapOrphans | null {
  return loadAddon<{ reapOrphans: ReapOrphans }>('reaper')?.reapOrphans ?? null;
}

/** Decodes a raw wait status into what the log says. */
export function describeStatus(status: number): { code: number | null; signal: number | null } {
  const signal = status & 0x7f;
  return signal === 0 ? { code: (status >> 8) & 0xff, signal: null } : { code: null, signal };
}
