// The worker's counters: what its protocols report through ProtocolStats, plus memory, event-loop
// utilization and delay, turned into the WorkerStats sent with every beat.
// Runs in: workers.
//
// The hot path (accepted/started/answered) touches only preallocated number arrays: no object is
// created per connection or request. Everything else is computed once per beat. A listener served
// natively (the line fast path) keeps its counts in C: they are read once a beat (external) and
// added to whatever JavaScript counted for it.
//
// The request limit (max-requests, jitter included, from the master): answered() counts every
// request JavaScript answers and calls back the moment the total reaches the limit, so a worker
// asks for its replacement with at most its requests in flight beyond it. Native counts are not
// seen per request: a native server that offers a budget (ProtocolStats.external's NativeBudget,
// the line addon's setBudget) counts against it in C and calls back at the answer that reaches it;
// otherwise they are read every NATIVE_LIMIT_POLL_MIN_MS to NATIVE_LIMIT_POLL_MAX_MS (see
// watchLimit).

import { monitorEventLoopDelay, performance, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks';
import type * as net from 'node:net';
import { LATENCY_BUCKETS_S, STATUS_CLASSES, type ListenerStats, type WorkerListener, type WorkerStats } from '../ipc.js';
import type { ExternalCounts, NativeBudget, ProtocolStats } from '../protocols/types.js';

const BUCKETS = LATENCY_BUCKETS_S.length + 1; // + the +Inf bucket
const CLASSES = STATUS_CLASSES.length;
/**
 * Event-loop delay sampling (ms between samples; each is a timer firing). While the worker has
 * connections or served anything in the last beat: fine enough for a p99.
 */
export const BUSY_DELAY_RESOLUTION_MS = 10;
/**
 * With nothing connected and nothing served in the last beat. The busy sampler alone woke an idle
 * worker 100 times a second (measured: 106 context switches/s and 0.8 % of a core per idle worker
 * on Node 20, nothing else close). A loop held long enough to delay the next client's accept (an
 * app's background job) still shows at this resolution.
 */
export const IDLE_DELAY_RESOLUTION_MS = 100;
/**
 * How often natively served counts are read against a request limit: in the time half of what is
 * left would take at the rate seen, or at NATIVE_BURST_PER_MS if that is higher (a burst may come
 * after an idle spell), within these bounds: never more than 100 reads a second (a worker near
 * its limit), never fewer than 10 (a worker far from it, idle).
 */
export const NATIVE_LIMIT_POLL_MIN_MS = 10;
export const NATIVE_LIMIT_POLL_MAX_MS = 100;
/** Natively served requests per millisecond assumed possible at any moment (10,000 a second). */
const NATIVE_BURST_PER_MS = 10;

export class WorkerStatsCollector implements ProtocolStats {
  private readonly requests: number[];
  private readonly connections: number[];
  private readonly errors: number[];
  private readonly inFlight: number[];
  /** Per listener, BUCKETS counts laid end to end. */
  private readonly buckets: number[];
  private readonly latencySum: number[];
  /** Per listener, CLASSES counts laid end to end (HTTP answers by status class). */
  private readonly classes: number[];
  private readonly upgrades: number[];
  private readonly servers: Array<net.Server | null>;
  private readonly externals: Array<(() => ExternalCounts) | null>;
  private readonly busyDelay: IntervalHistogram;
  private readonly idleDelay: IntervalHistogram;
  /** The sampler enabled now: the busy one until a beat finds the worker idle. */
  private delay: IntervalHistogram;
  /** requests + connections of every listener at the last beat: activity is a change. */
  private lastTotal = 0;
  private lastElu: EventLoopUtilization;
  /** Requests JavaScript answered, every listener: what answered() checks against the limit. */
  private answeredTotal = 0;
  private limit = Infinity;
  private onLimit: ((requests: number) => void) | null = null;
  /** A limit was given (the master sends it once): any later one is ignored, reached or not. */
  private limitGiven = false;
  private limitPoll: NodeJS.Timeout | null = null;
  /** The native servers' budgets (one function per server, however many listeners it serves). */
  private readonly budgets = new Set<NativeBudget>();
  /** The budget armed for the limit: moved down by every answer JavaScript gives. */
  private budget: NativeBudget | null = null;

  constructor(private readonly listeners: readonly WorkerListener[]) {
    const n = listeners.length;
    this.requests = new Array<number>(n).fill(0);
    this.connections = new Array<number>(n).fill(0);
    this.errors = new Array<number>(n).fill(0);
    this.inFlight = new Array<number>(n).fill(0);
    this.latencySum = new Array<number>(n).fill(0);
    this.buckets = new Array<number>(n * BUCKETS).fill(0);
    this.classes = new Array<number>(n * CLASSES).fill(0);
    this.upgrades = new Array<number>(n).fill(0);
    this.servers = new Array<net.Server | null>(n).fill(null);
    this.externals = new Array<(() => ExternalCounts) | null>(n).fill(null);
    this.busyDelay = monitorEventLoopDelay({ resolution: BUSY_DELAY_RESOLUTION_MS });
    this.idleDelay = monitorEventLoopDelay({ resolution: IDLE_DELAY_RESOLUTION_MS });
    this.delay = this.busyDelay;
    this.delay.enable();
    this.lastElu = performance.eventLoopUtilization();
  }

  /** The server of listener `index`: its connection count is read at each beat. */
  setServer(index: number, server: net.Server): void {
    this.servers[index] = server;
  }

  external(listener: number, read: () => ExternalCounts, budget?: NativeBudget): void {
    this.externals[listener] = read;
    if (budget) this.budgets.add(budget);
  }

  accepted(listener: number): void {
    this.connections[listener]! += 1;
  }

  started(listener: number): void {
    this.inFlight[listener]! += 1;
  }

  answered(listener: number, seconds: number, error: boolean, status?: number): void {
    this.inFlight[listener]! -= 1;
    // 100-599 by class; node refuses a status outside 100-999, and 600-999 count in no class.
    if (status !== undefined && status >= 100 && status < 600) this.classes[listener * CLASSES + Math.floor(status / 100) - 1]! += 1;
    this.requests[listener]! += 1;
    // The request limit, on the hot path: one add and one compare (Infinity while none is set).
    if (++this.answeredTotal >= this.limit) this.limitReached(this.answeredTotal + this.nativeAnswered());
    // What is left for the native server shrinks with every JavaScript answer (null while none).
    else if (this.budget !== null) this.budget(this.limit - this.answeredTotal);
    if (error) this.errors[listener]! += 1;
    this.latencySum[listener]! += seconds;
    let b = 0;
    while (b < LATENCY_BUCKETS_S.length && seconds > LATENCY_BUCKETS_S[b]!) b++;
    this.buckets[listener * BUCKETS + b]! += 1;
  }

  /**
   * Calls `reached(requests)` once, when the requests answered (every listener, natively served
   * ones included, since the worker started) reach `limit`: at once if they already have.
   */
  watchLimit(limit: number, reached: (requests: number) => void): void {
    if (this.limitGiven) return;
    this.limitGiven = true;
    this.onLimit = reached;
    this.limit = limit;
    const total = this.answeredTotal + this.nativeAnswered();
    if (total >= limit) return this.limitReached(total);
    if (!this.externals.some((read) => read !== null)) return;
    // Every natively served listener of one server with a budget: C calls back at the answer that
    // reaches the limit. Its total counts since the worker started, so its budget is the limit
    // less what JavaScript answered. Several servers, or an addon without budgets: the poll.
    const [budget] = this.budgets;
    if (budget && this.budgets.size === 1) {
      this.budget = budget;
      budget(limit - this.answeredTotal, (nativeTotal) => this.limitReached(this.answeredTotal + nativeTotal));
      return;
    }
    this.pollNative(total, performance.now(), 0);
  }

  /** Natively served answers of every listener (a read of the C counters, no syscall). */
  private nativeAnswered(): number {
    let n = 0;
    for (const read of this.externals) if (read) n += read().answered;
    return n;
  }

  /**
   * The next read of the native counts, after the time the rate seen since the last read needs
   * to use up half of what is left before the limit (bounded by the poll's minimum and maximum).
   */
  private pollNative(lastTotal: number, lastAt: number, ratePerMs: number): void {
    const left = this.limit - lastTotal;
    const wait = left / 2 / Math.max(ratePerMs, NATIVE_BURST_PER_MS);
    const delay = Math.max(NATIVE_LIMIT_POLL_MIN_MS, Math.min(NATIVE_LIMIT_POLL_MAX_MS, wait));
    this.limitPoll = setTimeout(() => {
      this.limitPoll = null;
      if (this.onLimit === null) return;
      const now = performance.now();
      const total = this.answeredTotal + this.nativeAnswered();
      if (total >= this.limit) return this.limitReached(total);
      this.pollNative(total, now, (total - lastTotal) / Math.max(1, now - lastAt));
    }, delay);
    this.limitPoll.unref();
  }

  private limitReached(requests: number): void {
    const reached = this.onLimit;
    this.onLimit = null;
    this.limit = Infinity;
    this.budget = null;
    if (this.limitPoll !== null) clearTimeout(this.limitPoll);
    this.limitPoll = null;
    reached?.(requests);
  }

  abandoned(listener: number): void {
    this.inFlight[listener]! -= 1;
    this.errors[listener]! += 1;
  }

  upgraded(listener: number): void {
    this.upgrades[listener]! += 1;
  }

  /** The beat's payload. Resets the interval measures (utilization, delay). */
  /**
   * RSS comes from /proc/self/stat, which needs a free fd: at the fd limit process.memoryUsage()
   * throws EMFILE, and a beat must never throw (it would retire a worker that is merely busy).
   * Then the last figures stand.
   */
  private memory(): { rss: number; heapUsed: number } {
    try {
      const { rss, heapUsed } = process.memoryUsage();
      this.lastMemory = { rss, heapUsed };
    } catch {
      // keep the last figures
    }
    return this.lastMemory;
  }

  private lastMemory = { rss: 0, heapUsed: 0 };

  /** The event-loop delay sampler's resolution now (ms). */
  get delayResolutionMs(): number {
    return this.delay === this.busyDelay ? BUSY_DELAY_RESOLUTION_MS : IDLE_DELAY_RESOLUTION_MS;
  }

  /**
   * Switches samplers at a beat (after its reset, so both are empty); the first busy beat after an
   * idle spell is sampled coarsely.
   */
  private sampleDelayFor(busy: boolean): void {
    const next = busy ? this.busyDelay : this.idleDelay;
    if (next === this.delay) return;
    this.delay.disable();
    next.enable();
    this.delay = next;
  }

  snapshot(): WorkerStats {
    const listeners: Record<string, ListenerStats> = {};
    let inFlight = 0;
    let open = 0;
    let total = 0;
    this.listeners.forEach((l, i) => {
      const buckets = this.buckets.slice(i * BUCKETS, (i + 1) * BUCKETS);
      let requests = this.requests[i]!;
      let connections = this.connections[i]!;
      let errors = this.errors[i]!;
      let sum = this.latencySum[i]!;
      const read = this.externals[i];
      if (read) {
        const c = read();
        requests += c.answered;
        connections += c.accepted;
        errors += c.errors;
        sum += c.latency.sum;
        c.latency.buckets.forEach((n, b) => (buckets[b]! += n));
        // Natively served connections still open: waiting for their line, or finishing the
        // reply (a few lingering after an error reply too): what a kill would cut.
        open += c.open;
        inFlight += c.open;
      }
      listeners[l.address] = {
        protocol: l.protocol,
        requests,
        connections,
        errors,
        latency: { buckets, sum, count: requests },
      };
      if (l.protocol.startsWith('http')) {
        listeners[l.address]!.statusClasses = this.classes.slice(i * CLASSES, (i + 1) * CLASSES);
        listeners[l.address]!.upgrades = this.upgrades[i]!;
      }
      total += requests + connections;
      inFlight += Math.max(0, this.inFlight[i]!);
      // net.Server keeps its live connection count in _connections (node's own bookkeeping).
      const server = this.servers[i] as (net.Server & { _connections?: number }) | null;
      open += server?._connections ?? 0;
    });
    const elu = performance.eventLoopUtilization(this.lastElu);
    this.lastElu = performance.eventLoopUtilization();
    const resolution = this.delayResolutionMs;
    let p99 = this.delay.count > 0 ? this.delay.percentile(99) / 1e6 : 0;
    // Some Node lines count the timer's own interval in every sample: then the lag is the excess.
    if (this.delay.count > 0 && this.delay.min / 1e6 >= resolution * 0.9) p99 -= resolution;
    this.delay.reset();
    this.sampleDelayFor(open > 0 || inFlight > 0 || total !== this.lastTotal);
    this.lastTotal = total;
    const memory = this.memory();
    return {
      listeners,
      inFlight,
      openConnections: open,
      rss: memory.rss,
      heapUsed: memory.heapUsed,
      elu: Math.round(elu.utilization * 1e4) / 1e4,
      loopDelayP99Ms: Math.max(0, Math.round(p99 * 1000) / 1000),
    };
  }
}
