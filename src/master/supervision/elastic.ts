// Elastic workers (`max-workers`): a small state machine that reads the current Desired, the
// workers' last beats and the accept-queue depth, and says which worker count it wants. It never
// changes anything itself: the master's loop installs the count it returns (master.ts), and the
// supervisor spawns into the new slot or drains the highest one (a TTOU-style graceful stop).
// Runs in: master.
//
// States: holding (a reload, stop, lame duck or upgrade runs, or a worker of the generation is
// still booting: the spells start again afterwards) -> watching -> saturated since T (one more
// worker once it has lasted UP_AFTER_MS) | low since T (one fewer once it has lasted
// `scale-down-after`). One step at a time: after each change the pool must settle (the new worker
// ready) and a whole new spell pass before the next. The thresholds leave a gap (up at 85 % busy,
// down only if the workers left would be under 60 %) so that a steady load never flaps.

import { heartbeatInterval } from '../../ipc.js';
import { LOG, type Logger } from '../../log.js';
import type { DesiredNow } from '../desired.js';
import type { System } from '../system.js';
import type { WorkerRecord } from './worker-table.js';

/** Saturated this long (two beats) before a worker is added: a CPU-bound load gets one in ~2-3 s. */
export const UP_AFTER_MS = 2000;
/** Mean event-loop utilisation of the serving workers at which they count as saturated. */
export const UP_ELU = 0.85;
/** Connections waiting count as saturation only while the workers are at least this busy. */
export const QUEUE_ELU = 0.5;
/** One fewer worker only if the ones left would be below this (mean ELU x n / (n - 1)). */
export const DOWN_ELU = 0.6;
/** A worker this many beat intervals silent counts as fully busy (a blocked loop sends no beat). */
const SILENT_BEATS = 2.5;

export type ScaleReason = 'busy' | 'queue' | 'low-load';

export interface ScaleRecord {
  at: string;
  direction: 'up' | 'down';
  from: number;
  to: number;
  reason: ScaleReason;
}

/** What /status, /metrics and `raas status` show of the policy. */
export interface ElasticStatus {
  /** max-workers is set and the bounds leave room: the policy acts. */
  active: boolean;
  min: number;
  max: number;
  ups: number;
  downs: number;
  /** Scale-ups refused because the memory it can see would not hold another worker. */
  heldForMemory: number;
  last: ScaleRecord | null;
  /** What it saw at its last look: mean ELU of the serving workers, connections waiting. */
  elu: number | null;
  queueDepth: number | null;
  /** Why it is not watching now (reload, stop, upgrade, lame-duck, settling), or null. */
  holding: string | null;
}

export interface ElasticHost {
  readonly system: Pick<System, 'clock' | 'memoryAvailable'>;
  readonly log: Logger;
  readonly desired: DesiredNow;
  /** Every worker not told to stop (any generation, any state). */
  workers(): readonly WorkerRecord[];
  /** Connections waiting in the accept queues at the last sample (all listeners); null: unknown. */
  waiting(): number | null;
  /** Why the master must not scale now (reload, stop, upgrade, lame-duck), or null. */
  hold(): string | null;
}

interface Look {
  elu: number | null;
  queue: number | null;
  serving: number;
  rss: number | null;
}

export class Elastic {
  private upSince: number | null = null;
  private downSince: number | null = null;
  /** A memory refusal is logged once per saturated spell, not at every tick. */
  private heldLogged = false;
  private readonly counts = { ups: 0, downs: 0, heldForMemory: 0 };
  private last: ScaleRecord | null = null;
  private look: Look = { elu: null, queue: null, serving: 0, rss: null };
  private holding: string | null = null;

  constructor(private readonly host: ElasticHost) {}

  /** Called in the master's duties; returns the worker count to install, or null to keep it. */
  advance(): number | null {
    const { target, bounds, settings, generation } = this.host.desired();
    const now = this.host.system.clock();
    const workers = this.host.workers().filter((w) => w.generation === generation);
    this.look = this.measure(workers, now, heartbeatInterval(settings.timeout));
    this.holding = bounds.min === bounds.max ? 'fixed' : (this.host.hold() ?? (workers.some((w) => w.state === 'booting') ? 'settling' : null));
    if (this.holding !== null) return this.reset();
    const { elu, queue } = this.look;
    const waiting = queue !== null && queue > 0;
    // No serving worker (a lower bound of 0): only a waiting connection says there is load.
    const saturated = elu === null ? waiting : elu >= UP_ELU || (waiting && elu >= QUEUE_ELU);
    // The policy never removes the last worker: only TTOU or WINCH take a pool to none.
    const floor = Math.max(bounds.min, 1);
    const low = !waiting && elu !== null && target > floor && (elu * target) / (target - 1) < DOWN_ELU;

    if (!saturated) (this.upSince = null), (this.heldLogged = false);
    if (!low) this.downSince = null;
    if (saturated && target < bounds.max) {
      this.upSince ??= now;
      if (now - this.upSince < UP_AFTER_MS) return null;
      if (!this.roomForOneMore()) return null;
      return this.decide('up', target, target + 1, elu !== null && elu >= UP_ELU ? 'busy' : 'queue', now - this.upSince);
    }
    if (low) {
      this.downSince ??= now;
      if (now - this.downSince < settings.scaleDownAfter * 1000) return null;
      return this.decide('down', target, target - 1, 'low-load', now - this.downSince);
    }
    return null;
  }

  status(): ElasticStatus {
    const { bounds } = this.host.desired();
    return {
      active: bounds.min !== bounds.max,
      min: bounds.min,
      max: bounds.max,
      ...this.counts,
      last: this.last,
      elu: this.look.elu === null ? null : Math.round(this.look.elu * 1000) / 1000,
      queueDepth: this.look.queue,
      holding: this.holding,
    };
  }

  private reset(): null {
    this.upSince = null;
    this.downSince = null;
    this.heldLogged = false;
    return null;
  }

  private decide(direction: 'up' | 'down', from: number, to: number, reason: ScaleReason, spellMs: number): number {
    this.last = { at: new Date().toISOString(), direction, from, to, reason };
    this.counts[direction === 'up' ? 'ups' : 'downs'] += 1;
    const { bounds } = this.host.desired();
    this.host.log.info(LOG.ELASTIC_SCALE, {
      direction,
      from,
      to,
      reason,
      elu: this.look.elu === null ? undefined : Math.round(this.look.elu * 100) / 100,
      queue: this.look.queue ?? undefined,
      for_ms: Math.round(spellMs),
      min: bounds.min,
      max: bounds.max,
    });
    // The next step needs a whole new spell, after the pool has settled.
    this.reset();
    return to;
  }

  /**
   * One more worker needs what a worker may grow to: max-memory if set (it is recycled past
   * that), else the largest serving worker's RSS. Grow only while the memory the master can see
   * holds two of those: a worker's worth stays free after the new one.
   */
  private roomForOneMore(): boolean {
    const { maxMemory } = this.host.desired().settings;
    const need = maxMemory > 0 ? maxMemory : (this.look.rss ?? 0);
    const available = this.host.system.memoryAvailable();
    if (available === null || need === 0 || available >= 2 * need) return true;
    if (!this.heldLogged) {
      this.heldLogged = true;
      this.counts.heldForMemory += 1;
      this.host.log.warn(LOG.ELASTIC_HELD, {
        reason: 'memory',
        available_bytes: available,
        worker_bytes: need,
        target: this.host.desired().target,
        max: this.host.desired().bounds.max,
      });
    }
    return false;
  }

  /** Mean ELU of the ready workers of the current generation; a silent one counts as fully busy. */
  private measure(workers: readonly WorkerRecord[], now: number, beatMs: number): Look {
    let sum = 0;
    let n = 0;
    let rss: number | null = null;
    for (const w of workers) {
      if (w.state !== 'ready' || w.lastStats === null) continue;
      const silent = now - w.lastBeat > SILENT_BEATS * beatMs;
      sum += silent ? 1 : Math.min(1, Math.max(0, w.lastStats.elu));
      n += 1;
      rss = Math.max(rss ?? 0, w.lastStats.rss);
    }
    return { elu: n === 0 ? null : sum / n, queue: this.host.waiting(), serving: n, rss };
  }
}
