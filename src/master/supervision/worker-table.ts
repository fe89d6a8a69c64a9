// The master's record of each worker it started: slot, generation, state, last beat, last
// stats, and what it has been told. Kept apart from the worker runtime, which never sees it.
// Runs in: master.
//
// The wanted worker of a (generation, slot) is found through an index, so the duties that look
// up every slot of the target stay linear in the number of workers.

import type { WorkerRecycleReason, WorkerStats } from '../../ipc.js';
import type { WorkerHandle } from '../launcher.js';
import type { RecycleReason } from './recycle.js';

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
  /** The stats of its last beat, if it sent any (what a kill would cut). */
  lastStats: WorkerStats | null;
  /** The strongest stop order sent so far, and why; null while the worker is wanted. */
  stopOrder: StopOrder | null;
  stopReason: string | null;
  stopSentAt: number;
  /** The worker asked to be replaced (it crashed and is draining). */
  retiring: boolean;
  /** When it began to drain (a graceful order, or it said it was retiring); null otherwise. */
  drainStartedAt: number | null;
  /** Its own max-requests limit, jitter included, drawn at spawn and sent once it is ready; null: none. */
  requestLimit: number | null;
  /**
   * It asked to be replaced (a 'recycle' message: it reached its request limit, or its app stopped
   * listening), and when. Kept until honoured: the master recycles one worker at a time, only
   * while every slot is ready, so an ask may wait for another recycle or a reload to finish.
   */
  recycleAsk: { reason: WorkerRecycleReason; details: Record<string, string | number>; at: number } | null;
  /**
   * It passed a limit: it serves on, but its slot counts as empty so that a replacement spawns
   * there; once that one is ready it is told to drain (supervisor.ts). Null while not recycling.
   */
  recycling: RecycleReason | null;
  /** What it said before it exited at boot (a 'boot-failed' message: the app's error); null otherwise. */
  bootError: string | null;
}

const isUnordered = (w: WorkerRecord): boolean => w.stopOrder === null && !w.retiring;
const isWanted = (w: WorkerRecord): boolean => isUnordered(w) && w.recycling === null;
const slotKey = (generation: number, slot: number): string => `${generation}:${slot}`;

export class WorkerTable {
  private readonly records = new Map<number, WorkerRecord>();
  /** Last worker added per (generation, slot); only it can be the wanted one there. */
  private readonly bySlot = new Map<string, WorkerRecord>();
  private nextId = 1;

  add(fields: Omit<WorkerRecord, 'id'>): WorkerRecord {
    const record = { id: this.nextId++, ...fields };
    this.records.set(record.id, record);
    this.bySlot.set(slotKey(record.generation, record.slot), record);
    return record;
  }

  get(id: number): WorkerRecord | undefined {
    return this.records.get(id);
  }

  remove(id: number): WorkerRecord | undefined {
    const record = this.records.get(id);
    if (!record) return undefined;
    this.records.delete(id);
    const key = slotKey(record.generation, record.slot);
    if (this.bySlot.get(key) === record) this.bySlot.delete(key);
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
    return this.all().filter(isWanted);
  }

  /** Workers not yet told to stop nor leaving on their own: the wanted ones and those recycling. */
  unordered(): WorkerRecord[] {
    return this.all().filter(isUnordered);
  }

  /** Workers passed a limit and waiting for their replacement. */
  recycling(): WorkerRecord[] {
    return this.all().filter((w) => isUnordered(w) && w.recycling !== null);
  }

  /** The wanted worker of a generation in a slot, if any (constant time). */
  inSlot(generation: number, slot: number): WorkerRecord | undefined {
    const record = this.bySlot.get(slotKey(generation, slot));
    return record !== undefined && isWanted(record) ? record : undefined;
  }

  readyCount(generation?: number): number {
    let n = 0;
    for (const w of this.records.values()) if (w.state === 'ready' && (generation === undefined || w.generation === generation)) n++;
    return n;
  }

  pids(): number[] {
    return this.all().flatMap((w) => (w.handle.pid === undefined ? [] : [w.handle.pid]));
  }
}
