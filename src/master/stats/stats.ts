// The master's aggregation of what workers report: totals per listener and slot that survive
// worker exits and restarts (counters never go backwards), the latest gauges of each live worker,
// exits by reason, accept-queue depth of the listeners, and a few minutes of req/s history.
// `raas status` (through the stats file), /status, /metrics and the status page all read it.
// Runs in: master. Knows nothing of protocols: a listener's protocol is an opaque label.

import * as fs from 'node:fs';
import { writeFileAtomic } from '../../safe-file.js';
import { STATUS_FILE_MODE } from '../files/status-file.js';
import { LATENCY_BUCKETS_S, STATUS_CLASSES, type ListenerStats, type WorkerStats } from '../../ipc.js';
import { sampleQueues, type QueueSample } from '../listeners/queue-depth.js';
import type { ElasticStatus } from '../supervision/elastic.js';
import type { WorkerRecord } from '../supervision/worker-table.js';
import { workerSnapshot, type WorkerRow } from './snapshot.js';

/** Seconds between samples (queue depth, req/s history, the stats file). */
export const SAMPLE_INTERVAL_S = 1;
/** How many samples of req/s history are kept per slot: five minutes. */
export const HISTORY_SAMPLES = 300;
export const STATUS_SCHEMA_VERSION = 1;
/** How soon after a worker appears or exits the stats file is rewritten (coalescing a burst). */
const SOON_MS = 50;

/**
 * Every reason the master records for a worker's exit (docs/OBSERVABILITY.md lists them): /metrics
 * exports each at 0 before the first such exit, since a Prometheus rate() or increase() needs a
 * first sample to count from. A reason missing here still counts, from its first exit on.
 */
export const EXIT_REASONS = [
  'shutdown',
  'shutdown-timeout',
  'reload',
  'reload-aborted',
  'scale-down',
  'recycle-max-requests',
  'recycle-max-memory',
  'recycle-not-listening',
  'drain-timeout',
  'timeout',
  'boot-timeout',
  'uncaughtException',
  'unhandledRejection',
  'left',
  'unexpected',
] as const;

/** What the stats read from the master, at most once per sample or request. */
export interface StatsSources {
  clock: () => number;
  workers: () => readonly WorkerRecord[];
  listeners: () => ReadonlyArray<{ bound: string; protocol: string; fd: number; unixPath: string | null }>;
  master: () => {
    name: string;
    phase: string;
    generation: number;
    target: number;
    backlog: number;
    reloads: { done: number; aborted: number; refused: number };
    upgrades: { started: number; failed: number };
    /** The elastic policy (max-workers); absent: a fixed pool of `target`. */
    elastic?: ElasticStatus;
  };
}

interface Totals {
  protocol: string;
  requests: number;
  connections: number;
  errors: number;
  buckets: number[];
  sum: number;
  /** HTTP only (null for the line protocol): answers by status class (STATUS_CLASSES), upgrades. */
  http: HttpTotals | null;
}

/** HTTP answers by status class, [1xx .. 5xx], and requests handed to an upgrade handler. */
interface HttpTotals {
  statusClasses: number[];
  upgrades: number;
}

const newHttpTotals = (): HttpTotals => ({ statusClasses: new Array<number>(STATUS_CLASSES.length).fill(0), upgrades: 0 });

/** Adds `from` into `into` (the sums of the report). */
function addHttp(into: HttpTotals, from: HttpTotals): void {
  from.statusClasses.forEach((n, i) => (into.statusClasses[i]! += n));
  into.upgrades += from.upgrades;
}

export interface LastExit {
  pid: number | null;
  generation: number;
  code: number | null;
  signal: string | null;
  reason: string;
  at: string;
  uptimeSeconds: number;
}

/** The `raas status --json` document (docs/OBSERVABILITY.md describes every field). */
export interface StatusReport {
  schema: number;
  time: string;
  master: {
    pid: number;
    name: string;
    phase: string;
    generation: number;
    targetWorkers: number;
    uptimeSeconds: number;
    rss: number;
    heapUsed: number;
  };
  /** The one snapshot of the workers (snapshot.ts), each row with its age and its last beat's gauges. */
  workers: Array<WorkerRow & {
    ageSeconds: number;
    requests: number;
    requestsPerSecond: number;
    inFlight: number | null;
    openConnections: number | null;
    rss: number | null;
    heapUsed: number | null;
    elu: number | null;
    loopDelayP99Ms: number | null;
  }>;
  slots: Array<{ slot: number; requests: number; connections: number; errors: number; exits: number; lastExit: LastExit | null }>;
  listeners: Array<{
    address: string;
    protocol: string;
    queueDepth: number | null;
    queueMax: number | null;
    queuePeak: number | null;
    requests: number;
    connections: number;
    errors: number;
    latency: { bucketsSeconds: number[]; counts: number[]; sum: number; count: number };
    /** HTTP listeners only: answers by status class ("1xx" .. "5xx") and upgrades (WebSocket handshakes). */
    http?: { statusClasses: Record<string, number>; upgrades: number };
  }>;
  totals: { requests: number; connections: number; errors: number };
  /** The counters per listener and slot (what raas_requests_total and friends are made of). */
  counters: Array<{
    listener: string;
    protocol: string;
    slot: number;
    requests: number;
    connections: number;
    errors: number;
    /** HTTP listeners only: answers by status class ("1xx" .. "5xx") and upgrades. */
    http?: { statusClasses: Record<string, number>; upgrades: number };
  }>;
  restarts: Record<string, number>;
  reloads: { done: number; aborted: number; refused: number };
  upgrades: { started: number; failed: number };
  history: { intervalSeconds: number; requestsPerSecond: Record<string, number[]> };
  /** max-workers: the bounds the count moves in, and the policy's decisions (supervision/elastic.ts). */
  scaling: ElasticStatus;
}

interface LiveWorker {
  record: WorkerRecord;
  latest: WorkerStats | null;
  /** Cumulative counters last seen from this worker, per listener: the base of the next delta. */
  seen: Map<string, ListenerStats>;
  requests: number;
}

export class MasterStats {
  private readonly startedAt: number;
  private readonly totals = new Map<string, Totals>(); // `${listener}\n${slot}`
  private readonly live = new Map<number, LiveWorker>(); // by worker id
  private readonly exits = new Map<number, { count: number; last: LastExit }>(); // by slot
  private readonly restarts = new Map<string, number>();
  private readonly queues = new Map<string, QueueSample & { peak: number | null }>(); // by listener
  private readonly history = new Map<number, number[]>(); // slot -> req/s samples
  private lastSlotRequests = new Map<number, number>();
  private lastSampleAt: number;
  private timer: NodeJS.Timeout | null = null;
  private sampling = false;
  private writing = false;
  private soonTimer: NodeJS.Timeout | null = null;
  private cached: { at: number; report: StatusReport } | null = null;

  constructor(
    private readonly sources: StatsSources,
    /** Where `raas status` reads the report (beside the pid file); null: no file. */
    private readonly file: string | null,
  ) {
    this.startedAt = sources.clock();
    this.lastSampleAt = this.startedAt;
  }

  /** Samples once a second off the master's loop path (async reads, timer unref'd). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.sample(), SAMPLE_INTERVAL_S * 1000);
    this.timer.unref();
    void this.sample();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.soonTimer) clearTimeout(this.soonTimer);
    this.timer = null;
    this.soonTimer = null;
    // Synchronously: the master exits right after stop(), before any callback could run.
    if (this.file !== null) fs.rmSync(this.file, { force: true });
  }

  /** Connections waiting in the listeners' accept queues at the last sample; null: none known. */
  waiting(): number | null {
    let total: number | null = null;
    for (const l of this.sources.listeners()) {
      const depth = this.queues.get(l.bound)?.depth ?? null;
      if (depth !== null) total = (total ?? 0) + depth;
    }
    return total;
  }

  /** A beat: the worker's cumulative counters become deltas added to the slot's totals. */
  beat(worker: WorkerRecord, stats: WorkerStats | undefined): void {
    if (!stats) return;
    let live = this.live.get(worker.id);
    if (!live) {
      live = { record: worker, latest: null, seen: new Map(), requests: 0 };
      this.live.set(worker.id, live);
      this.soon(); // a worker's first beat follows its readiness: `raas status` should see it
    }
    live.latest = stats;
    for (const [address, now] of Object.entries(stats.listeners)) {
      const before = live.seen.get(address);
      const key = `${address}\n${worker.slot}`;
      let total = this.totals.get(key);
      if (!total) {
        total = { protocol: now.protocol, requests: 0, connections: 0, errors: 0, buckets: new Array(LATENCY_BUCKETS_S.length + 1).fill(0), sum: 0, http: null };
        this.totals.set(key, total);
      }
      // A counter below what we saw (it cannot happen within one process) counts from zero.
      const delta = (a: number, b: number | undefined): number => (b === undefined || a < b ? a : a - b);
      total.requests += delta(now.requests, before?.requests);
      total.connections += delta(now.connections, before?.connections);
      total.errors += delta(now.errors, before?.errors);
      total.sum += before && now.latency.sum >= before.latency.sum ? now.latency.sum - before.latency.sum : now.latency.sum;
      now.latency.buckets.forEach((n, i) => (total.buckets[i]! += delta(n, before?.latency.buckets[i])));
      if (now.statusClasses !== undefined || now.upgrades !== undefined) {
        const http = (total.http ??= newHttpTotals());
        now.statusClasses?.forEach((n, i) => {
          if (i < http.statusClasses.length) http.statusClasses[i]! += delta(n, before?.statusClasses?.[i]);
        });
        http.upgrades += delta(now.upgrades ?? 0, before?.upgrades);
      }
      live.seen.set(address, now);
    }
    live.requests = Object.values(stats.listeners).reduce((n, l) => n + l.requests, 0);
  }

  /** A worker exited: its totals stay; its slot remembers the exit and why. */
  exited(worker: WorkerRecord, reason: string, code: number | null, signal: string | null): void {
    this.live.delete(worker.id);
    const now = this.sources.clock();
    this.restarts.set(reason, (this.restarts.get(reason) ?? 0) + 1);
    const last: LastExit = {
      pid: worker.handle.pid ?? null,
      generation: worker.generation,
      code,
      signal,
      reason,
      at: new Date().toISOString(),
      uptimeSeconds: round((now - worker.spawnedAt) / 1000, 3),
    };
    const slot = this.exits.get(worker.slot);
    this.exits.set(worker.slot, { count: (slot?.count ?? 0) + 1, last });
    this.cached = null;
    this.soon();
  }

  /** Rewrites the stats file shortly (coalesced) after a worker appears or leaves. */
  private soon(): void {
    if (this.file === null || this.timer === null || this.soonTimer !== null) return;
    this.soonTimer = setTimeout(() => {
      this.soonTimer = null;
      this.cached = null;
      void this.writeFile();
    }, SOON_MS);
    this.soonTimer.unref();
  }

  private async writeFile(): Promise<void> {
    if (this.file === null || this.writing) return;
    this.writing = true;
    try {
      await writeAtomically(this.file, JSON.stringify(this.report()) + '\n');
    } catch {
      // `raas status` is a convenience; the next sample writes again.
    } finally {
      this.writing = false;
    }
  }

  /** The report, recomputed at most once per sample interval (scrapes reuse it). */
  report(): StatusReport {
    const now = this.sources.clock();
    if (this.cached && now - this.cached.at < SAMPLE_INTERVAL_S * 1000) return this.cached.report;
    const report = this.build(now);
    this.cached = { at: now, report };
    return report;
  }

  private async sample(): Promise<void> {
    if (this.sampling) return; // the previous sample is still reading: skip, never pile up
    this.sampling = true;
    try {
      const now = this.sources.clock();
      const elapsed = Math.max(0.001, (now - this.lastSampleAt) / 1000);
      this.lastSampleAt = now;
      const slotRequests = this.requestsBySlot();
      for (const [slot, requests] of slotRequests) {
        const before = this.lastSlotRequests.get(slot);
        const rate = before === undefined ? 0 : Math.max(0, (requests - before) / elapsed);
        const series = this.history.get(slot) ?? [];
        series.push(round(rate, 1));
        if (series.length > HISTORY_SAMPLES) series.shift();
        this.history.set(slot, series);
      }
      this.lastSlotRequests = slotRequests;

      const listeners = this.sources.listeners();
      const samples = await sampleQueues(
        listeners.map((l) => ({ fd: l.fd, unix: l.unixPath !== null || l.bound.includes('unix:') })),
        this.sources.master().backlog,
      );
      for (const l of listeners) {
        const s = samples.get(l.fd) ?? { depth: null, max: null };
        const before = this.queues.get(l.bound);
        const peak = s.depth === null ? (before?.peak ?? null) : Math.max(s.depth, before?.peak ?? 0);
        this.queues.set(l.bound, { ...s, peak });
      }
      this.cached = null;
      await this.writeFile();
    } catch {
      // Observability must never take the master down; the next sample tries again.
    } finally {
      this.sampling = false;
    }
  }

  private requestsBySlot(): Map<number, number> {
    const bySlot = new Map<number, number>();
    for (const [key, total] of this.totals) {
      const slot = Number(key.slice(key.lastIndexOf('\n') + 1));
      bySlot.set(slot, (bySlot.get(slot) ?? 0) + total.requests);
    }
    return bySlot;
  }

  private build(now: number): StatusReport {
    const master = this.sources.master();
    const memory = process.memoryUsage();
    const workers = workerSnapshot(this.sources.workers(), (w) => {
      const s = this.live.get(w.id)?.latest ?? null;
      const series = this.history.get(w.slot);
      return {
        ageSeconds: round((now - w.spawnedAt) / 1000, 1),
        requests: this.live.get(w.id)?.requests ?? 0,
        requestsPerSecond: series?.[series.length - 1] ?? 0,
        inFlight: s?.inFlight ?? null,
        openConnections: s?.openConnections ?? null,
        rss: s?.rss ?? null,
        heapUsed: s?.heapUsed ?? null,
        elu: s?.elu ?? null,
        loopDelayP99Ms: s?.loopDelayP99Ms ?? null,
      };
    });

    const slotNumbers = new Set<number>([...this.exits.keys()]);
    const perSlot = new Map<number, { requests: number; connections: number; errors: number }>();
    const perListener = new Map<string, Totals>();
    for (const [key, t] of this.totals) {
      const cut = key.lastIndexOf('\n');
      const address = key.slice(0, cut);
      const slot = Number(key.slice(cut + 1));
      slotNumbers.add(slot);
      const s = perSlot.get(slot) ?? { requests: 0, connections: 0, errors: 0 };
      s.requests += t.requests;
      s.connections += t.connections;
      s.errors += t.errors;
      perSlot.set(slot, s);
      const l = perListener.get(address) ?? { protocol: t.protocol, requests: 0, connections: 0, errors: 0, buckets: new Array(t.buckets.length).fill(0), sum: 0, http: null };
      l.requests += t.requests;
      l.connections += t.connections;
      l.errors += t.errors;
      l.sum += t.sum;
      t.buckets.forEach((n, i) => (l.buckets[i]! += n));
      if (t.http !== null) addHttp((l.http ??= newHttpTotals()), t.http);
      perListener.set(address, l);
    }
    const listenerNames = new Set<string>([...this.sources.listeners().map((l) => l.bound), ...perListener.keys()]);
    const protocolOf = new Map(this.sources.listeners().map((l) => [l.bound, l.protocol]));
    const totals = { requests: 0, connections: 0, errors: 0 };
    const counters: StatusReport['counters'] = [];
    for (const [key, t] of this.totals) {
      const cut = key.lastIndexOf('\n');
      counters.push({
        listener: key.slice(0, cut),
        protocol: t.protocol,
        slot: Number(key.slice(cut + 1)),
        requests: t.requests,
        connections: t.connections,
        errors: t.errors,
        ...httpView(t.http),
      });
    }
    counters.sort((a, b) => (a.listener < b.listener ? -1 : a.listener > b.listener ? 1 : a.slot - b.slot));
    for (const s of perSlot.values()) {
      totals.requests += s.requests;
      totals.connections += s.connections;
      totals.errors += s.errors;
    }
    return {
      schema: STATUS_SCHEMA_VERSION,
      time: new Date().toISOString(),
      master: {
        pid: process.pid,
        name: master.name,
        phase: master.phase,
        generation: master.generation,
        targetWorkers: master.target,
        uptimeSeconds: round((now - this.startedAt) / 1000, 1),
        rss: memory.rss,
        heapUsed: memory.heapUsed,
      },
      workers,
      slots: [...slotNumbers].sort((a, b) => a - b).map((slot) => ({
        slot,
        ...(perSlot.get(slot) ?? { requests: 0, connections: 0, errors: 0 }),
        exits: this.exits.get(slot)?.count ?? 0,
        lastExit: this.exits.get(slot)?.last ?? null,
      })),
      listeners: [...listenerNames].map((address) => {
        const t = perListener.get(address);
        const q = this.queues.get(address);
        return {
          address,
          protocol: t?.protocol ?? protocolOf.get(address) ?? 'unknown',
          queueDepth: q?.depth ?? null,
          queueMax: q?.max ?? null,
          queuePeak: q?.peak ?? null,
          requests: t?.requests ?? 0,
          connections: t?.connections ?? 0,
          errors: t?.errors ?? 0,
          latency: {
            bucketsSeconds: [...LATENCY_BUCKETS_S],
            counts: t?.buckets ?? new Array(LATENCY_BUCKETS_S.length + 1).fill(0),
            sum: round(t?.sum ?? 0, 6),
            count: t?.requests ?? 0,
          },
          ...httpView(t?.http ?? null),
        };
      }),
      totals,
      counters,
      restarts: Object.fromEntries([...this.restarts].sort()),
      reloads: { done: master.reloads.done, aborted: master.reloads.aborted, refused: master.reloads.refused },
      upgrades: { ...master.upgrades },
      history: {
        intervalSeconds: SAMPLE_INTERVAL_S,
        requestsPerSecond: Object.fromEntries([...this.history].map(([slot, series]) => [String(slot), series])),
      },
      scaling: master.elastic ?? {
        active: false,
        min: master.target,
        max: master.target,
        ups: 0,
        downs: 0,
        heldForMemory: 0,
        last: null,
        elu: null,
        queueDepth: null,
        holding: 'fixed',
      },
    };
  }
}

/** The report's view of HTTP totals: classes by name; nothing at all for a line listener. */
function httpView(http: HttpTotals | null): { http?: { statusClasses: Record<string, number>; upgrades: number } } {
  if (http === null) return {};
  return { http: { statusClasses: Object.fromEntries(STATUS_CLASSES.map((c, i) => [c, http.statusClasses[i]!])), upgrades: http.upgrades } };
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/**
 * Through the pid and status files' safe writer (a random O_EXCL|O_NOFOLLOW temp file, mode 0600,
 * renamed over): a reader never sees half a file and no planted link is followed. A few KiB, once
 * a second at most: cheaper than the promise machinery of an asynchronous write.
 */
async function writeAtomically(path: string, text: string): Promise<void> {
  writeFileAtomic(path, text, STATUS_FILE_MODE);
}

/** Where `raas status` finds the report of the master with this pid. */
export function statsPath(pidFile: string, pid: number): string {
  return `${pidFile}.${pid}.stats.json`;
}
