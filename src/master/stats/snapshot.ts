// One snapshot of the workers: who each one is and what state it is in, in one order. The status
// file writes it as it is; the stats report, which /status, /metrics and `raas status` render,
// adds to each row the worker's age and the gauges of its last beat.
// Runs in: master.

import type { WorkerRecord } from '../supervision/worker-table.js';

/** A worker told to stop, or retiring after a crash, is 'stopping' in every view, whatever it last said. */
export const WORKER_VIEW_STATES = ['booting', 'ready', 'stopping'] as const;
export type WorkerViewState = (typeof WORKER_VIEW_STATES)[number];

/** One worker as every view of the workers shows it. */
export interface WorkerRow {
  slot: number;
  pid: number | null;
  generation: number;
  state: WorkerViewState;
}

export function workerRow(w: WorkerRecord): WorkerRow {
  return {
    slot: w.slot,
    pid: w.handle.pid ?? null,
    generation: w.generation,
    state: w.stopOrder === null && !w.retiring ? w.state : 'stopping',
  };
}

/**
 * The workers by slot, then generation (an old generation's worker before its replacement). A view
 * that shows more of each worker passes `more`: its fields follow the row's.
 */
export function workerSnapshot(workers: readonly WorkerRecord[]): WorkerRow[];
export function workerSnapshot<T extends object>(workers: readonly WorkerRecord[], more: (w: WorkerRecord) => T): Array<WorkerRow & T>;
export function workerSnapshot(workers: readonly WorkerRecord[], more?: (w: WorkerRecord) => object): WorkerRow[] {
  return [...workers]
    .sort((a, b) => a.slot - b.slot || a.generation - b.generation)
    .map((w) => (more ? { ...workerRow(w), ...more(w) } : workerRow(w)));
}
