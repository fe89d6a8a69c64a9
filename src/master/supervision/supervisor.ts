// The master's workers: spawning them into the slots of the desired generation, reading their
// messages and exits, stop orders, and the duties over them: kill the silent, bound every drain
// by `worker-shutdown-timeout`, recycle those past a limit, keep the count, retire the surplus.
// Runs in: master.

import type { WorkerMessage, WorkerStats } from '../../ipc.js';
import { LOG, type Logger } from '../../log.js';
import { SIGNALS } from '../../signals.js';
import type { DesiredNow } from '../desired.js';
import { runHook } from '../hooks.js';
import type { MasterEvent } from '../inbox.js';
import type { LameDuck } from '../stop/lame-duck.js';
import { RECYCLE_PRIORITY, drawRequestLimit, memoryPassed, type LimitPassed } from './recycle.js';
import { SHED_INTERVAL_MS, heldStill, shedOrder, type TotalWatch } from '../stats/rebalance.js';
import { StuckReports } from './stuck-report.js';
import type { System } from '../system.js';
import { WorkerTable, type StopOrder, type WorkerRecord } from './worker-table.js';

/**
 * Signals a worker catches from its first JavaScript instruction (src/worker/main.ts). A booting
 * worker that died of one of them by its default action died before that instruction: a signal
 * meant for the master's process group caught it between fork and setsid (libuv blocks signals
 * there and unblocks them just before exec), or a signal reached it during Node's own start-up.
 * That says nothing about the app, so it is no boot failure: no back-off, no crash-loop count.
 */
const CAUGHT_BY_WORKERS: ReadonlySet<string> = new Set(SIGNALS.map((s) => s.signal));

/** Consecutive boot failures after which a master with no serving worker gives up. */
const MAX_BOOT_FAILURES = 5;

/** Why the master gives up on its workers (cannotBoot), for its halt line. */
export interface CannotBoot {
  failures: number;
  /** `failures`: MAX_BOOT_FAILURES in a row; `first-start`: no worker ever ready within boot-timeout of the first spawn. */
  rule: 'failures' | 'first-start';
  /** The first of these failures: the app's error as the worker reported it, or how the worker ended. */
  firstError: string;
}
const STRENGTH: Record<StopOrder, number> = { graceful: 1, immediate: 2, kill: 3 };
const SIGNAL_OF: Record<StopOrder, NodeJS.Signals> = { graceful: 'SIGQUIT', immediate: 'SIGINT', kill: 'SIGKILL' };

type Fields = Record<string, string | number | null | undefined>;

/** Who else hears of beats and exits (the stats that status, /metrics and the page read). */
export interface SupervisorObserver {
  beat(worker: WorkerRecord, stats: WorkerStats | undefined): void;
  exited(worker: WorkerRecord, reason: string, code: number | null, signal: NodeJS.Signals | null): void;
}

/** What the supervisor is given once, at construction (master.ts wires it). */
export interface SupervisorDeps {
  readonly system: System;
  readonly log: Logger;
  /** The master's current Desired (it alone replaces it). */
  readonly desired: DesiredNow;
  readonly post: (event: MasterEvent) => void;
  /** Who else hears of beats and exits (stats). */
  readonly observer?: SupervisorObserver | null;
  /** The master's lame duck: workers spawned or ready during it are told (they start lame). */
  readonly lameDuck?: LameDuck | null;
  /** Asks silent workers where they are stuck before the kill (stuck-report.ts). */
  readonly stuck?: StuckReports;
}

export class Supervisor {
  readonly table = new WorkerTable();
  private readonly system: System;
  private readonly log: Logger;
  private readonly post: (event: MasterEvent) => void;
  private readonly observer: SupervisorObserver | null;
  private readonly lameDuck: LameDuck | null;
  private readonly stuck: StuckReports;
  private readonly current: DesiredNow;
  /** When each worker was last told to shed connections (rebalance.ts). */
  private readonly shedAt = new WeakMap<WorkerRecord, number>();
  /** The workers' total of open connections, and since when it has held still (rebalance.ts). */
  private readonly openTotal: TotalWatch = { total: 0, since: 0 };
  private bootFailures = 0;
  /** The first failure of the current run of boot failures (what the halt repeats). */
  private firstBootError: string | null = null;
  private nextSpawnAt = 0;
  /** When this master spawned its first worker, and whether any worker has been ready since. */
  private firstSpawnAt: number | null = null;
  private everReady = false;

  constructor(deps: SupervisorDeps) {
    this.system = deps.system;
    this.log = deps.log;
    this.current = deps.desired;
    this.post = deps.post;
    this.observer = deps.observer ?? null;
    this.lameDuck = deps.lameDuck ?? null;
    this.stuck = deps.stuck ?? new StuckReports(null);
  }

  private get desired() {
    return this.current();
  }

  // ---- events ---------------------------------------------------------------------------------

  onMessage(id: number, message: WorkerMessage, now: number): void {
    const worker = this.table.get(id);
    if (!worker) return;
    if (message.type === 'beat') {
      worker.lastBeat = now;
      if (message.stats) worker.lastStats = message.stats;
      this.observer?.beat(worker, message.stats);
    } else if (message.type === 'ready') {
      worker.state = 'ready';
      worker.lastBeat = now;
      this.bootFailures = 0;
      this.firstBootError = null;
      this.everReady = true;
      this.log.info(LOG.WORKER_READY, describe(worker, { boot_ms: Math.round(now - worker.spawnedAt) }));
      runHook(this.log, this.desired.hooks, 'afterWorkerReady', hookWorker(worker));
      this.lameDuck?.tell(worker.handle);
      // The worker counts its own requests against this (recycle()).
      if (worker.requestLimit !== null) worker.handle.send({ type: 'request-limit', limit: worker.requestLimit });
    } else if (message.type === 'recycle') {
      // Honoured by recycle() as soon as it may (it runs in the duties right after this batch).
      worker.recycleAsk ??= { reason: message.reason, details: message.details, at: now };
    } else if (message.type === 'boot-failed') {
      worker.bootError = message.error;
    } else if (message.type === 'retiring') {
      worker.retiring = true;
      worker.stopReason ??= message.reason;
      worker.drainStartedAt ??= now;
    }
  }

  /** A worker exited; returns its record if it failed at boot (never ready, not asked to stop), else null. */
  onExit(event: Extract<MasterEvent, { kind: 'worker-exit' }>, now: number, running: boolean): WorkerRecord | null {
    const worker = this.table.remove(event.id);
    if (!worker) return null;
    this.stuck.forget(worker.handle);
    const expected = worker.stopOrder !== null || worker.retiring;
    // Not ordered by us: a clean exit was asked of the worker directly (QUIT, TERM to its pid).
    const reason = worker.stopReason ?? (event.code === 0 ? 'left' : 'unexpected');
    this.observer?.exited(worker, reason, event.code, event.signal);
    const fields = describe(worker, {
      code: event.code,
      signal: event.signal,
      reason,
      uptime_ms: Math.round(now - worker.spawnedAt),
      error: event.error?.message,
    });
    const killedForSilence = worker.stopReason === 'timeout' || worker.stopReason === 'boot-timeout';
    if ((expected || event.code === 0) && !killedForSilence) this.log.info(LOG.WORKER_EXIT, fields);
    else this.log.error(LOG.WORKER_EXIT, fields);
    const signalledEarly = worker.state === 'booting' && worker.stopOrder === null && event.signal !== null && CAUGHT_BY_WORKERS.has(event.signal);
    const failedBoot = !signalledEarly && worker.state === 'booting' && (worker.stopOrder === null || worker.stopReason === 'boot-timeout');
    if (signalledEarly) this.log.warn(LOG.WORKER_SIGNALLED_EARLY, { slot: worker.slot, worker_pid: worker.handle.pid, signal: event.signal });
    if (failedBoot && running) {
      this.bootFailures += 1;
      this.firstBootError ??= worker.bootError ?? howItEnded(worker, event.code, event.signal, this.desired.settings.bootTimeout);
      // Growing back-off so a worker that cannot boot does not spin: 100 ms, 200 ms, ... 10 s.
      this.nextSpawnAt = now + Math.min(10_000, 100 * 2 ** (this.bootFailures - 1));
      this.log.warn(LOG.WORKER_BOOT_FAILED, { slot: worker.slot, failures: this.bootFailures });
    }
    runHook(this.log, this.desired.hooks, 'afterWorkerExit', hookWorker(worker), { code: event.code, signal: event.signal });
    return failedBoot && running ? worker : null;
  }

  // ---- orders ---------------------------------------------------------------------------------

  /** Sends a stop order unless a stronger one was already sent. */
  order(worker: WorkerRecord, order: StopOrder, reason: string): void {
    if (worker.stopOrder !== null && STRENGTH[worker.stopOrder] >= STRENGTH[order]) return;
    const now = this.system.clock();
    worker.stopOrder = order;
    worker.stopReason ??= reason;
    worker.stopSentAt = now;
    if (order === 'graceful') worker.drainStartedAt ??= now;
    worker.handle.kill(SIGNAL_OF[order]);
  }

  orderAll(order: StopOrder, reason: string): void {
    for (const worker of this.table.all()) this.order(worker, order, reason);
  }

  /** An aborted reload: the new generation goes (ready ones drain, booting ones are killed). */
  abandonGeneration(generation: number): void {
    for (const worker of this.table.unordered()) {
      if (worker.generation === generation) this.order(worker, worker.state === 'ready' ? 'graceful' : 'kill', 'reload-aborted');
    }
    this.bootFailures = 0;
    this.firstBootError = null;
    this.nextSpawnAt = 0;
  }

  // ---- duties ---------------------------------------------------------------------------------

  killSilent(now: number): void {
    const { timeout, bootTimeout } = this.desired.settings;
    for (const worker of this.table.all()) {
      if (worker.stopOrder === 'kill') continue;
      if (worker.state === 'booting') {
        if (now - worker.spawnedAt > bootTimeout * 1000) {
          this.log.error(LOG.WORKER_BOOT_TIMEOUT, describe(worker, { boot_timeout_s: bootTimeout }));
          this.order(worker, 'kill', 'boot-timeout');
        }
      } else if (now - worker.lastBeat > timeout * 1000) {
        // Ask the worker where it is stuck first; the kill waits for the answer, a second at most.
        if (this.stuck.waiting(worker.handle, now)) continue;
        this.log.error(
          LOG.WORKER_TIMEOUT,
          describe(worker, { silent_ms: Math.round(now - worker.lastBeat), timeout_s: timeout, ...this.stuck.facts(worker.handle) }),
        );
        this.order(worker, 'kill', 'timeout');
      }
    }
  }

  /**
   * A drain (a graceful order of any kind, or a crashed worker retiring) lasts at most
   * `worker-shutdown-timeout`: a client that trickles must not keep a worker forever.
   */
  boundDrains(now: number): void {
    const limit = this.desired.settings.workerShutdownTimeout;
    for (const worker of this.table.all()) {
      if (worker.drainStartedAt === null || worker.stopOrder === 'kill' || now - worker.drainStartedAt <= limit * 1000) continue;
      this.log.warn(
        LOG.WORKER_DRAIN_TIMEOUT,
        describe(worker, {
          worker_shutdown_timeout_s: limit,
          // From its last beat: the connections this kill cuts, as far as we know.
          connections_cut: worker.lastStats?.openConnections ?? 'unknown',
        }),
      );
      worker.stopReason = 'drain-timeout'; // what its exit line will say, whatever began the drain
      this.order(worker, 'kill', 'drain-timeout');
    }
  }

  /** After the master itself was stopped, no beat could be read: give every worker a fresh start. */
  forgiveSilence(now: number): void {
    for (const worker of this.table.all()) {
      worker.lastBeat = Math.max(worker.lastBeat, now);
      if (worker.state === 'booting') worker.spawnedAt = Math.max(worker.spawnedAt, now);
    }
  }

  /**
   * A ready worker of the current generation that asked to be replaced (it reached its own
   * `max-requests` limit, counted by itself, or its zero-code app stopped listening) or whose last
   * beat passed `max-memory` is marked recycling. It serves on; its slot counts as empty, so
   * keepCount spawns its replacement there, and retireSurplus drains it once that one is ready:
   * capacity never drops. One recycle at a time, and only while every slot is ready (none
   * booting, no reload rolling): many limits passed together still mean one extra process at a
   * time; an ask not honoured yet stays in the worker's record (recycleAsk) for its turn. The
   * master calls this only while running with no reload under way (a reload supersedes it),
   * and not during a lame duck, which ends in a stop.
   */
  recycle(now: number): void {
    if (!this.settled()) return;
    const { generation, settings } = this.desired;
    let chosen: { worker: WorkerRecord; passed: LimitPassed } | null = null;
    for (const worker of this.table.wanted()) {
      if (worker.generation !== generation || worker.state !== 'ready') continue;
      const ask = worker.recycleAsk;
      const passed: LimitPassed | null =
        ask !== null
          ? { reason: ask.reason, fields: { ...ask.details, ...(now - ask.at >= 1 ? { waited_ms: Math.round(now - ask.at) } : {}) } }
          : memoryPassed(worker.lastStats, settings.maxMemory);
      if (passed === null) continue;
      if (chosen === null || RECYCLE_PRIORITY[passed.reason] < RECYCLE_PRIORITY[chosen.passed.reason]) chosen = { worker, passed };
    }
    if (chosen === null) return;
    const { worker, passed } = chosen;
    worker.recycling = passed.reason;
    this.log.info(LOG.RECYCLE_BEGIN, describe(worker, { reason: passed.reason, ...passed.fields, uptime_ms: Math.round(now - worker.spawnedAt) }));
  }

  /**
   * `rebalance on`: the ready workers of the current generation compared by the open connections
   * of their last beats; the one holding clearly more than its share is told to shed the excess
   * (rebalance.ts). Same conditions as recycle: all slots ready, no recycle, no lame duck; the
   * master calls it only while running with no reload under way.
   */
  rebalance(now: number): void {
    if (!this.settled()) return;
    const candidates = this.table
      .wanted()
      .filter((w) => w.generation === this.desired.generation && w.state === 'ready' && w.lastStats !== null);
    const counts = candidates.map((w) => ({ id: w.id, open: w.lastStats!.openConnections }));
    if (!heldStill(this.openTotal, counts, now)) return;
    const order = shedOrder(counts);
    if (order === null) return;
    const worker = candidates.find((w) => w.id === order.id)!;
    if (now - (this.shedAt.get(worker) ?? -Infinity) < SHED_INTERVAL_MS) return;
    this.shedAt.set(worker, now);
    worker.handle.send({ type: 'shed', connections: order.connections, target: order.target });
  }

  /** Recycling and rebalancing act only then: every slot ready, no recycle under way, no lame duck. */
  private settled(): boolean {
    return this.lameDuck?.active !== true && this.table.recycling().length === 0 && this.generationReady();
  }

  keepCount(now: number): void {
    const { generation, target } = this.desired;
    for (let slot = 0; slot < target; slot++) {
      if (this.table.inSlot(generation, slot)) continue;
      if (now < this.nextSpawnAt) return;
      this.spawn(slot, now);
    }
  }

  /**
   * Stops workers no longer wanted: above the target count, of an older generation once
   * replaced, or recycling once their replacement is ready.
   */
  retireSurplus(): void {
    const { generation, target } = this.desired;
    const allReady = this.generationReady();
    for (const worker of this.table.unordered()) {
      if (worker.generation === generation) {
        if (worker.slot >= target) this.order(worker, 'graceful', 'scale-down');
        else if (worker.recycling !== null) this.retireRecycled(worker);
        continue;
      }
      const successor = this.table.inSlot(generation, worker.slot);
      if (successor?.state === 'ready' || (worker.slot >= target && allReady)) this.order(worker, 'graceful', 'reload');
    }
  }

  /** A recycling worker drains once the replacement in its slot is ready, not before. */
  private retireRecycled(worker: WorkerRecord): void {
    const replacement = this.table.inSlot(worker.generation, worker.slot);
    if (replacement?.state !== 'ready') return;
    const reason = `recycle-${worker.recycling}`;
    this.log.info(LOG.RECYCLE_STOP, describe(worker, { reason, replacement_pid: replacement.handle.pid }));
    this.order(worker, 'graceful', reason);
  }

  /**
   * Every slot of the desired generation has a ready worker. A recycling worker still serves its
   * slot while its replacement boots: the master stays ready (status, reloads) meanwhile.
   */
  generationReady(): boolean {
    const { generation, target } = this.desired;
    let recyclingSlots: Set<number> | null = null;
    for (let slot = 0; slot < target; slot++) {
      if (this.table.inSlot(generation, slot)?.state === 'ready') continue;
      recyclingSlots ??= new Set(this.table.recycling().flatMap((w) => (w.generation === generation ? [w.slot] : [])));
      if (!recyclingSlots.has(slot)) return false;
    }
    return true;
  }

  /**
   * Workers that keep failing at boot with none serving: spawning on would only spin. At the first
   * start (no worker of this master was ever ready) the master also gives up once a boot has failed
   * and `boot-timeout` has passed since its first spawn: an app that hangs at boot would otherwise
   * hold it up for five boot-timeouts and their back-offs, and a first start that cannot boot in
   * one boot-timeout is to be reported, not retried (systemd, Docker or the operator restarts it).
   */
  cannotBoot(now: number): CannotBoot | null {
    if (this.bootFailures === 0 || this.table.readyCount() > 0) return null;
    const firstError = this.firstBootError ?? 'unknown';
    if (this.bootFailures >= MAX_BOOT_FAILURES) return { failures: this.bootFailures, rule: 'failures', firstError };
    const firstStartOver = !this.everReady && this.firstSpawnAt !== null && now - this.firstSpawnAt >= this.desired.settings.bootTimeout * 1000;
    return firstStartOver ? { failures: this.bootFailures, rule: 'first-start', firstError } : null;
  }

  reopenLogs(): void {
    for (const worker of this.table.all()) worker.handle.send({ type: 'reopen-logs' });
  }

  private spawn(slot: number, now: number): void {
    const { generation, settings, listeners, hooks, workerEnv } = this.desired;
    runHook(this.log, hooks, 'beforeSpawn', { slot, generation });
    let id = 0;
    const handle = this.system.launcher.spawn(
      { slot, generation, settings, listeners, env: workerEnv, lameDuck: this.lameDuck?.active === true },
      {
        message: (message) => this.post({ kind: 'worker-message', id, message }),
        exit: (code, signal, error) => this.post({ kind: 'worker-exit', id, code, signal, error }),
      },
    );
    const worker = this.table.add({
      slot,
      generation,
      handle,
      state: 'booting',
      spawnedAt: now,
      lastBeat: now,
      lastStats: null,
      stopOrder: null,
      stopReason: null,
      stopSentAt: 0,
      retiring: false,
      drainStartedAt: null,
      requestLimit: drawRequestLimit(settings, () => this.system.random()),
      recycleAsk: null,
      recycling: null,
      bootError: null,
    });
    this.firstSpawnAt ??= now;
    id = worker.id;
    this.log.info(LOG.WORKER_SPAWN, describe(worker));
  }
}

/** A failed boot that sent no error: the boot-timeout kill, or its exit status. */
function howItEnded(worker: WorkerRecord, code: number | null, signal: NodeJS.Signals | null, bootTimeout: number): string {
  if (worker.stopReason === 'boot-timeout') return `not ready within boot-timeout (${bootTimeout} s): killed`;
  return signal !== null ? `worker killed by ${signal} while booting` : `worker exited with code ${code} while booting`;
}

export function describe(worker: WorkerRecord, extra: Fields = {}): Fields {
  return { slot: worker.slot, worker_pid: worker.handle.pid, gen: worker.generation, ...extra };
}

function hookWorker(worker: WorkerRecord): { slot: number; pid: number | undefined; generation: number } {
  return { slot: worker.slot, pid: worker.handle.pid, generation: worker.generation };
}

