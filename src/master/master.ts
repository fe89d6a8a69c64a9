// The master: one loop over one inbox. It keeps the wanted number of workers of the current
// generation, kills silent ones, and runs stop, reload and re-exec as phases of the same loop.
// Knows nothing of protocols.
// Runs in: master.

import * as fs from 'node:fs';
import type { MasterHooks, ResolvedConfig } from '../config/load.js';
import type { ListenAddress } from '../config/listen-address.js';
import type { Settings } from '../config/settings.js';
import { EXIT } from '../exit-codes.js';
import type { WorkerMessage } from '../ipc.js';
import { LOG, type Logger } from '../log.js';
import { SIGNALS, type MasterAction } from '../signals.js';
import { Inbox, type MasterEvent } from './inbox.js';
import type { Launcher } from './launcher.js';
import { closeListener, reconcileListeners, type BoundListener } from './listeners.js';
import { LameDuck } from './lame-duck.js';
import { runHook } from './hooks.js';
import { describeStatus, type ReapOrphans } from './reaper.js';
import { isLiveMaster } from './pidfile.js';
import { notifyParentReady } from './reexec.js';
import { StatusFile, statusPath } from './status-file.js';
import { announceToParent, Upgrade } from './upgrade.js';
import { WorkerTable, type StopOrder, type WorkerRecord } from './worker-table.js';

const TICK_MS = 100;
/** A gap between duty runs this long means the master itself was stopped or stalled. */
const STALL_MS = 1000;
const IMMEDIATE_KILL_AFTER_MS = 1000;
/** Consecutive boot failures after which a master with no serving worker gives up. */
const MAX_BOOT_FAILURES = 5;
/** New-generation boot failures after which a reload is aborted. */
const MAX_RELOAD_BOOT_FAILURES = 3;

export interface MasterDeps {
  launcher: Launcher;
  log: Logger;
  clock: () => number;
  /** Re-reads settings for HUP (same argv and env, the config file as it is now). */
  loadConfig: () => Promise<ResolvedConfig>;
  bind: (address: ListenAddress) => Promise<BoundListener>;
  exit: (code: number) => void;
  /** Extra work at final exit (the pid file). */
  onExit?: () => void;
  /** The pid file, if any: renamed to `.oldbin` while a successor master boots. */
  pidFile: string | null;
  /** Set when this master was started by USR2: the old master to notify (and maybe quit). */
  parentMaster: number | null;
  /** Sockets came from systemd: they are fixed, a reload does not rebind them. */
  listenersFixed: boolean;
  /** As PID 1: collects zombie children the master did not start (see reaper.ts). */
  reapOrphans?: ReapOrphans | null;
}

type Phase =
  | { kind: 'running' }
  | { kind: 'stopping'; order: StopOrder; deadline: number | null; exitCode: number };

interface Reload {
  previousGeneration: number;
  previousSettings: Settings;
  previousHooks: MasterHooks;
  previousListeners: BoundListener[];
  previousTarget: number;
  deadline: number;
  bootFailures: number;
}

export class Master {
  private readonly inbox: Inbox;
  private readonly workers = new WorkerTable();
  private phase: Phase = { kind: 'running' };
  private generation = 1;
  private target: number;
  private reload: Reload | null = null;
  private reloadPending = false;
  private bootFailures = 0;
  private nextSpawnAt = 0;
  private readyAnnounced = false;
  private lastDuties: number;
  private tickTimer: NodeJS.Timeout | null = null;
  private readonly reloads = { done: 0, aborted: 0, refused: 0, lastError: null as string | null };
  private readonly status: StatusFile | null;
  private readonly upgrade: Upgrade;
  private readonly lameDuck: LameDuck;

  constructor(
    private settings: Settings,
    private hooks: MasterHooks,
    private listeners: BoundListener[],
    private readonly deps: MasterDeps,
  ) {
    this.target = settings.workers;
    this.lastDuties = deps.clock();
    this.upgrade = new Upgrade(deps.log, deps.pidFile);
    this.lameDuck = new LameDuck(deps.log);
    this.status = deps.pidFile === null ? null : new StatusFile(statusPath(deps.pidFile, process.pid));
    this.inbox = new Inbox(
      (event) => this.handle(event),
      () => this.duties(),
    );
  }

  start(): void {
    for (const spec of SIGNALS) process.on(spec.signal, () => this.inbox.post({ kind: 'signal', signal: spec.signal }));
    this.tickTimer = setInterval(() => this.inbox.post({ kind: 'tick' }), TICK_MS);
    this.inbox.post({ kind: 'tick' });
  }

  post(event: MasterEvent): void {
    this.inbox.post(event);
  }

  private get log(): Logger {
    return this.deps.log;
  }

  private handle(event: MasterEvent): void {
    const now = this.deps.clock();
    switch (event.kind) {
      case 'tick':
        return;
      case 'signal':
        return this.onSignal(event.signal);
      case 'worker-message':
        return this.onWorkerMessage(event.id, event.message, now);
      case 'worker-exit':
        return this.onWorkerExit(event, now);
      case 'config-loaded':
        return this.applyReload(event.config, event.listeners, now);
      case 'config-refused':
        this.reloadPending = false;
        this.reloads.refused += 1;
        this.reloads.lastError = event.error;
        this.log.error(LOG.RELOAD_REFUSED, { error: event.error });
        return;
      case 'successor-ready':
        return this.upgrade.ready(event.pid, this.settings.upgradeHandover);
      case 'successor-exit':
        return this.upgrade.exited(this.settings.name, event.pid, event.code, event.signal);
    }
  }

  private onSignal(signal: NodeJS.Signals): void {
    const spec = SIGNALS.find((s) => s.signal === signal);
    if (!spec) return;
    this.log.info(LOG.SIGNAL, { signal, action: spec.master });
    const actions: Record<MasterAction, () => void> = {
      'graceful-stop': () => this.stop('graceful', null),
      'bounded-stop': () => this.stop('graceful', this.settings.shutdownTimeout * 1000),
      'immediate-stop': () => this.stop('immediate', null),
      reload: () => this.startReload(),
      reexec: () => {
        if (this.phase.kind !== 'running') return;
        this.upgrade.start(this.settings.name, this.listeners, {
          ready: (pid) => this.inbox.post({ kind: 'successor-ready', pid }),
          exit: (pid, code, signal) => this.inbox.post({ kind: 'successor-exit', pid, code, signal }),
        });
      },
      'stop-workers': () => this.stopAllWorkers(),
      'add-worker': () => this.scale(this.target + 1),
      'remove-worker': () => this.scale(Math.max(0, this.target - 1)),
      'reopen-logs': () => this.reopenLogs(),
    };
    actions[spec.master]();
  }

  // ---- stop ----------------------------------------------------------------------------------

  private stop(order: 'graceful' | 'immediate', boundMs: number | null, exitCode: number = EXIT.OK): void {
    const now = this.deps.clock();
    if (this.lameDuck.active) {
      // Lame duck is a graceful stop under way: a second QUIT changes nothing, TERM or INT stops at once.
      if (order === 'graceful' && boundMs === null) return;
      this.lameDuck.cancel();
      order = 'immediate';
    } else if (order === 'graceful' && this.phase.kind === 'running') {
      const parent = this.deps.parentMaster;
      const shared = this.upgrade.successorAlive() || (parent !== null && isLiveMaster(parent));
      if (this.lameDuck.begin(now, this.settings.lameDuck, boundMs, shared, this.workers.all().map((w) => w.handle))) return;
    }
    if (this.phase.kind === 'stopping') {
      // A second TERM or INT during a graceful stop makes it immediate; a second QUIT changes nothing.
      if (this.phase.order !== 'graceful' || (order === 'graceful' && boundMs === null)) return;
      order = 'immediate';
    }
    const deadline = boundMs === null ? null : now + boundMs;
    this.phase = { kind: 'stopping', order, deadline, exitCode };
    this.log.info(LOG.STOPPING, { mode: order, deadline_s: boundMs === null ? undefined : boundMs / 1000 });
    for (const worker of this.workers.all()) this.order(worker, order, 'shutdown');
  }

  private advanceStop(phase: Extract<Phase, { kind: 'stopping' }>, now: number): void {
    for (const worker of this.workers.all()) {
      if (worker.stopOrder === 'immediate' && now - worker.stopSentAt > IMMEDIATE_KILL_AFTER_MS) {
        this.order(worker, 'kill', 'shutdown');
      }
    }
    if (phase.deadline !== null && now >= phase.deadline && this.workers.size > 0) {
      this.log.warn(LOG.STOP_ESCALATE, { remaining: this.workers.size, pids: this.workers.pids().join(',') });
      for (const worker of this.workers.all()) this.order(worker, 'kill', 'shutdown-timeout');
      phase.deadline = null;
    }
    // The master never exits while a worker it started is alive.
    if (this.workers.size === 0) this.finish(phase.exitCode);
  }

  private finish(exitCode: number): void {
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.tickTimer = null;
    // Another master serving from the same sockets (our successor, or the master we were to
    // replace, after a back-out) needs them and their Unix socket files: leave them alone.
    const parent = this.deps.parentMaster;
    const shared = this.upgrade.successorAlive() || (parent !== null && isLiveMaster(parent));
    if (!shared) for (const listener of this.listeners) closeListener(listener);
    this.status?.remove();
    this.deps.onExit?.();
    this.log.info(LOG.STOPPED, { exit_code: exitCode });
    this.deps.exit(exitCode);
  }

  // ---- workers -------------------------------------------------------------------------------

  private onWorkerMessage(id: number, message: WorkerMessage, now: number): void {
    const worker = this.workers.get(id);
    if (!worker) return;
    if (message.type === 'beat') {
      worker.lastBeat = now;
    } else if (message.type === 'ready') {
      worker.state = 'ready';
      worker.lastBeat = now;
      this.bootFailures = 0;
      this.log.info(LOG.WORKER_READY, this.describe(worker, { boot_ms: Math.round(now - worker.spawnedAt) }));
      runHook(this.log, this.hooks, 'afterWorkerReady', { slot: worker.slot, pid: worker.handle.pid, generation: worker.generation });
      this.lameDuck.tell(worker.handle);
    } else if (message.type === 'retiring') {
      worker.retiring = true;
      worker.stopReason ??= message.reason;
    }
  }

  private onWorkerExit(event: Extract<MasterEvent, { kind: 'worker-exit' }>, now: number): void {
    const worker = this.workers.remove(event.id);
    if (!worker) return;
    const expected = worker.stopOrder !== null || worker.retiring;
    const fields = this.describe(worker, {
      code: event.code,
      signal: event.signal,
      // Not ordered by us: a clean exit was asked of the worker directly (QUIT, TERM to its pid).
      reason: worker.stopReason ?? (event.code === 0 ? 'left' : 'unexpected'),
      uptime_ms: Math.round(now - worker.spawnedAt),
      error: event.error?.message,
    });
    const killedForSilence = worker.stopReason === 'timeout' || worker.stopReason === 'boot-timeout';
    if ((expected || event.code === 0) && !killedForSilence) {
      this.log.info(LOG.WORKER_EXIT, fields);
    } else {
      this.log.error(LOG.WORKER_EXIT, fields);
    }
    const failedBoot = worker.state === 'booting' && (worker.stopOrder === null || worker.stopReason === 'boot-timeout');
    if (failedBoot && this.phase.kind === 'running') {
      this.bootFailures += 1;
      // Growing back-off so a worker that cannot boot does not spin: 100 ms, 200 ms, ... 10 s.
      this.nextSpawnAt = now + Math.min(10_000, 100 * 2 ** (this.bootFailures - 1));
      this.log.warn(LOG.WORKER_BOOT_FAILED, { slot: worker.slot, failures: this.bootFailures });
      if (this.reload && worker.generation === this.generation) this.reload.bootFailures += 1;
    }
    runHook(this.log, this.hooks, 'afterWorkerExit', { slot: worker.slot, pid: worker.handle.pid, generation: worker.generation }, {
      code: event.code,
      signal: event.signal,
    });
  }

  private spawn(slot: number, now: number): void {
    const generation = this.generation;
    runHook(this.log, this.hooks, 'beforeSpawn', { slot, generation });
    let id = 0;
    const handle = this.deps.launcher.spawn(
      { slot, generation, settings: this.settings, listeners: this.listeners, lameDuck: this.lameDuck.active },
      {
        message: (message) => this.inbox.post({ kind: 'worker-message', id, message }),
        exit: (code, signal, error) => this.inbox.post({ kind: 'worker-exit', id, code, signal, error }),
      },
    );
    const worker = this.workers.add({
      slot,
      generation,
      handle,
      state: 'booting',
      spawnedAt: now,
      lastBeat: now,
      stopOrder: null,
      stopReason: null,
      stopSentAt: 0,
      retiring: false,
    });
    id = worker.id;
    this.log.info(LOG.WORKER_SPAWN, this.describe(worker));
  }

  /** Sends a stop order unless a stronger one was already sent. */
  private order(worker: WorkerRecord, order: StopOrder, reason: string): void {
    const strength: Record<StopOrder, number> = { graceful: 1, immediate: 2, kill: 3 };
    if (worker.stopOrder !== null && strength[worker.stopOrder] >= strength[order]) return;
    worker.stopOrder = order;
    worker.stopReason ??= reason;
    worker.stopSentAt = this.deps.clock();
    const signal = order === 'graceful' ? 'SIGQUIT' : order === 'immediate' ? 'SIGINT' : 'SIGKILL';
    worker.handle.kill(signal);
  }

  private describe(worker: WorkerRecord, extra: Record<string, string | number | null | undefined> = {}) {
    return { slot: worker.slot, worker_pid: worker.handle.pid, gen: worker.generation, ...extra };
  }

  // ---- duties, after every batch of events ----------------------------------------------------

  private duties(): void {
    this.runDuties();
    this.publishStatus();
  }

  private runDuties(): void {
    const now = this.deps.clock();
    // Duties run at least every tick; a longer gap means the master itself was stopped or stalled,
    // and no beat sent meanwhile could be read. Checked here, before any kill, whatever event
    // woke us first.
    if (now - this.lastDuties > STALL_MS) this.forgiveSilence(now, now - this.lastDuties);
    this.lastDuties = now;
    this.reapOrphans();
    this.killSilentWorkers(now);
    const lameDuckOver = this.lameDuck.takeDue(now);
    if (lameDuckOver) this.stop('graceful', lameDuckOver.boundMs);
    if (this.phase.kind === 'stopping') return this.advanceStop(this.phase, now);
    if (this.reload) this.advanceReload(this.reload, now);
    this.keepWorkerCount(now);
    this.retireSurplus();
    this.announceReady();
    if (this.bootFailures >= MAX_BOOT_FAILURES && this.workers.readyCount() === 0 && !this.reload) {
      this.log.error(LOG.WORKERS_CANNOT_BOOT, { failures: this.bootFailures });
      this.stop('immediate', null, EXIT.WORKERS_CANNOT_BOOT);
    }
  }

  private reapOrphans(): void {
    const reap = this.deps.reapOrphans;
    if (!reap) return;
    // Our own children are libuv's to reap: their exit statuses are how we learn of deaths.
    const ours = this.workers.pids();
    const successor = this.upgrade.snapshot();
    if (successor) ours.push(successor.pid);
    for (const [pid, status] of reap(ours)) this.log.info(LOG.REAPED_UNKNOWN, { orphan_pid: pid, ...describeStatus(status) });
  }

  private publishStatus(): void {
    if (!this.status || this.phase.kind === 'stopping' && this.workers.size === 0) return;
    this.status.publish({
      pid: process.pid,
      name: this.settings.name,
      phase: this.phase.kind,
      ready: this.currentGenerationReady(),
      generation: this.generation,
      target: this.target,
      workers: this.workers.all().map((w) => ({
        slot: w.slot,
        pid: w.handle.pid ?? null,
        generation: w.generation,
        state: w.stopOrder === null && !w.retiring ? w.state : 'stopping',
      })),
      reloads: this.reloads,
      successor: this.upgrade.snapshot(),
      upgrades: this.upgrade.counts,
    });
  }

  private killSilentWorkers(now: number): void {
    const timeoutMs = this.settings.timeout * 1000;
    for (const worker of this.workers.all()) {
      if (worker.stopOrder === 'kill') continue;
      if (worker.state === 'booting') {
        if (now - worker.spawnedAt > this.settings.bootTimeout * 1000) {
          this.log.error(LOG.WORKER_BOOT_TIMEOUT, this.describe(worker, { boot_timeout_s: this.settings.bootTimeout }));
          this.order(worker, 'kill', 'boot-timeout');
        }
      } else if (now - worker.lastBeat > timeoutMs) {
        this.log.error(
          LOG.WORKER_TIMEOUT,
          this.describe(worker, { silent_ms: Math.round(now - worker.lastBeat), timeout_s: this.settings.timeout }),
        );
        this.order(worker, 'kill', 'timeout');
      }
    }
  }

  /** After the master itself was stopped, no beat could be read: give every worker a fresh start. */
  private forgiveSilence(now: number, gapMs: number): void {
    this.log.warn(LOG.MASTER_STALLED, { gap_ms: Math.round(gapMs) });
    for (const worker of this.workers.all()) {
      worker.lastBeat = Math.max(worker.lastBeat, now);
      if (worker.state === 'booting') worker.spawnedAt = Math.max(worker.spawnedAt, now);
    }
  }

  private keepWorkerCount(now: number): void {
    for (let slot = 0; slot < this.target; slot++) {
      if (this.workers.inSlot(this.generation, slot)) continue;
      if (now < this.nextSpawnAt) return;
      this.spawn(slot, now);
    }
  }

  /** Stops workers no longer wanted: above the target count, or of an older generation once replaced. */
  private retireSurplus(): void {
    const allReady = this.currentGenerationReady();
    for (const worker of this.workers.wanted()) {
      if (worker.generation === this.generation) {
        if (worker.slot >= this.target) this.order(worker, 'graceful', 'scale-down');
        continue;
      }
      const successor = this.workers.inSlot(this.generation, worker.slot);
      if (successor?.state === 'ready' || (worker.slot >= this.target && allReady)) {
        this.order(worker, 'graceful', 'reload');
      }
    }
  }

  private currentGenerationReady(): boolean {
    for (let slot = 0; slot < this.target; slot++) {
      if (this.workers.inSlot(this.generation, slot)?.state !== 'ready') return false;
    }
    return true;
  }

  private announceReady(): void {
    if (this.readyAnnounced || !this.currentGenerationReady()) return;
    this.readyAnnounced = true;
    this.log.info(LOG.READY, {
      listen: this.listeners.map((l) => l.bound).join(','),
      workers: this.target,
      master_pid: process.pid,
    });
    const parent = this.deps.parentMaster;
    if (parent !== null) announceToParent(this.log, parent, this.settings.upgradeHandover, notifyParentReady);
  }

  private scale(count: number): void {
    this.log.info(LOG.SCALE, { from: this.target, to: count });
    this.target = count;
  }

  private stopAllWorkers(): void {
    if (hasControllingTerminal()) {
      this.log.warn(LOG.SIGNAL, { signal: 'SIGWINCH', ignored: 'controlling terminal (resize)' });
      return;
    }
    this.scale(0);
    this.log.info(LOG.WORKERS_STOPPED);
  }

  private reopenLogs(): void {
    this.log.reopen();
    for (const worker of this.workers.all()) worker.handle.send({ type: 'reopen-logs' });
    this.log.info(LOG.LOGS_REOPENED);
  }

  // ---- reload (HUP) ----------------------------------------------------------------------------

  private startReload(): void {
    if (this.reload || this.reloadPending) {
      this.log.warn(LOG.RELOAD_REFUSED, { error: 'a reload is already in progress' });
      return;
    }
    this.reloadPending = true;
    // Loading the file and binding new addresses are asynchronous; their result comes back as
    // one event, and nothing changes until it is handled. reloadPending keeps a second HUP out.
    this.deps
      .loadConfig()
      .then(async (config) => {
        if (config.settings.logFile !== null) fs.closeSync(fs.openSync(config.settings.logFile, 'a'));
        const listeners = this.deps.listenersFixed
          ? this.listeners
          : await reconcileListeners(this.listeners, config.settings.listen, this.deps.bind);
        this.inbox.post({ kind: 'config-loaded', config, listeners });
      })
      .catch((err: unknown) =>
        this.inbox.post({ kind: 'config-refused', error: err instanceof Error ? err.message : String(err) }),
      );
  }

  private applyReload(config: ResolvedConfig, listeners: BoundListener[], now: number): void {
    this.reloadPending = false;
    const { settings, hooks } = config;
    if (this.phase.kind !== 'running') {
      this.closeDropped(listeners, this.listeners);
      return;
    }
    this.reload = {
      previousGeneration: this.generation,
      previousSettings: this.settings,
      previousHooks: this.hooks,
      previousListeners: this.listeners,
      previousTarget: this.target,
      deadline: now + settings.bootTimeout * 1000,
      bootFailures: 0,
    };
    this.settings = settings;
    this.hooks = hooks;
    this.listeners = listeners;
    this.target = settings.workers;
    this.generation += 1;
    this.setLogPath(settings.logFile);
    this.log.info(LOG.RELOAD_START, { gen: this.generation, workers: this.target });
    this.inbox.post({ kind: 'tick' });
  }

  private advanceReload(reload: Reload, now: number): void {
    if (this.currentGenerationReady()) {
      this.reload = null;
      this.closeDropped(reload.previousListeners, this.listeners);
      this.reloads.done += 1;
      this.log.info(LOG.RELOAD_DONE, {
        gen: this.generation,
        workers: this.target,
        listen: this.listeners.map((l) => l.bound).join(','),
      });
      return;
    }
    const failed = reload.bootFailures >= MAX_RELOAD_BOOT_FAILURES;
    if (!failed && now < reload.deadline) return;
    const reason = failed ? `new workers failed to boot ${reload.bootFailures} times` : 'boot-timeout';
    this.reloads.aborted += 1;
    this.reloads.lastError = reason;
    this.log.error(LOG.RELOAD_ABORTED, { gen: this.generation, reason });
    for (const worker of this.workers.wanted()) {
      if (worker.generation === this.generation) {
        this.order(worker, worker.state === 'ready' ? 'graceful' : 'kill', 'reload-aborted');
      }
    }
    const dropped = this.listeners;
    this.settings = reload.previousSettings;
    this.hooks = reload.previousHooks;
    this.listeners = reload.previousListeners;
    this.target = reload.previousTarget;
    this.generation = reload.previousGeneration;
    this.bootFailures = 0;
    this.nextSpawnAt = 0;
    this.setLogPath(this.settings.logFile);
    this.closeDropped(dropped, this.listeners);
    this.reload = null;
  }

  private setLogPath(path: string | null): void {
    try {
      this.log.setPath(path);
    } catch (err) {
      this.log.error(LOG.CONFIG_ERROR, { setting: 'log-file', error: err instanceof Error ? err.message : String(err) });
    }
  }

  /**
   * Closes the master's copy of sockets no longer configured. Workers still holding them keep
   * them open until they drain and exit.
   */
  private closeDropped(before: BoundListener[], after: BoundListener[]): void {
    for (const listener of before) {
      if (after.includes(listener)) continue;
      closeListener(listener);
      this.log.info(LOG.LISTENER_CLOSED, { listen: listener.bound });
    }
  }
}

/** Terminals send WINCH on every resize; only a master without one takes it as an order. */
function hasControllingTerminal(): boolean {
  try {
    fs.closeSync(fs.openSync('/dev/tty', 'r'));
    return true;
  } catch {
    return false;
  }
}
