// The master's record of each worker it started: slot, generation, state, last beat, and what
// it has been told. Kept apart from the worker runtime, which never sees it.
// Runs in: master.

import type { WorkerHandle } from './launcher.js';

export type StopOrder = 'graceful' | 'immediate' | 'kill';

export interface WorkerRecord {
  /** Unique per spawn, unlike the slot (which a replacement inherits) and the pid (reused by the OS). */
  readonly id: number;
  readonly slot: number;
  readonly generation: number;
  readonly handle: WorkerHandle;
  state: 'booting' | 'ready';
  spawnedAt: number;
  lastBeat: number;
  /** The strongest stop order sent so far, and why; null while the worker is wanted. */
  stopOrder: StopOrder | null;
  stopReason: string | null;
  stopSentAt: number;
  /** The worker asked to be replaced (it crashed and is draining). */
  retiring: boolean;
}

export class WorkerTable {
  private readonly records = new Map<number, WorkerRecord>();
  private nextId = 1;

  add(fields: Omit<WorkerRecord, 'id'>): WorkerRecord {
    const record = { id: this.nextId++, ...fields };
    this.records.set(record.id, record);
    return record;
  }

  get(id: number): WorkerRecord | undefined {
    return this.records.get(id);
  }

  remove(id: number): WorkerRecord | undefined {
    const record = this.records.get(id);
    this.records.delete(id);
    return record;
  }

  get size(): number {
    return this.records.size;
  }

  all(): WorkerRecord[] {
    return [...this.records.values()];
  }

  /** Workers still wanted: not told to stop and not leaving on their own. */
  wanted(): WorkerRecord[] {
    return this.all().filter((w) => w.stopOrder === null && !w.retiring);
  }

  /** The wanted worker of a generation in a slot, if any. */
  inSlot(generation: number, slot: number): WorkerRecord | undefined {
    return this.wanted().find((w) => w.generation === generation && w.slot === slot);
  }

  readyCount(generation?: number): number {
    return this.all().filter((w) => w.state === 'ready' && (generation === undefined || w.generation === generation))
      .length;
  }

  pids(): number[] {
    return this.all().flatMap((w) => (w.handle.pid === undefined ? [] : [w.handle.pid]));
  }
}
