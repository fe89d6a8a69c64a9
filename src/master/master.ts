// The master: one loop over one inbox. Events become calls on phase objects (the workers'
// supervisor, a reload, an upgrade, a stop); after every batch the duties run once. Everything
// feature-specific lives in those objects; this file only routes and orders.
// Runs in: master. Knows nothing of protocols; reaches the OS only through `System`.

import type { MasterHooks, ResolvedConfig } from '../config/load.js';
import type { Settings } from '../config/settings.js';
import { grantLogFilesQuietly } from '../log-grant.js';
import { EXIT } from '../exit-codes.js';
import { LOG, type Logger } from '../log.js';
import { SIGNALS, type MasterAction } from '../signals.js';
import { firstDesired, withBoundsMoved, withNoWorkers, withTarget, type Desired } from './desired.js';
import { Inbox, type LoopStep, type MasterEvent } from './inbox.js';
import type { BoundListener } from './listeners/listeners.js';
import { LameDuck } from './stop/lame-duck.js';
import { LoopGuard } from './loop-guard.js';
import { describeStatus } from './supervision/reaper.js';
import { Reload, type ReloadOrders } from './reload/reload.js';
import { StatusFile, statusPath, type MasterStatus } from './files/status-file.js';
import { Stop, type StopOrders } from './stop/stop.js';
import { Elastic } from './supervision/elastic.js';
import { StuckReports } from './supervision/stuck-report.js';
import { Supervisor } from './supervision/supervisor.js';
import type { System } from './system.js';
import { Upgrade } from './upgrade/upgrade.js';
import { MasterStats, statsPath, type StatusReport } from './stats/stats.js';
import { workerSnapshot } from './stats/snapshot.js';
import { errorWithStack } from '../errors.js';
import type { FileWatch } from './watch/watch.js';
import { WATCH_APP_DIR } from '../config/settings.js';
import * as path from 'node:path';

const TICK_MS = 100;
/** A gap between duty runs this long means the master itself was stopped or stalled. */
const STALL_MS = 1000;

export interface MasterDeps {
  /** The one seam to the OS (clock, launcher, sockets, pid files, /proc, successor, exit). */
  system: System;
  log: Logger;
  /** Re-reads settings for HUP (same argv and env, the config file as it is now). */
  loadConfig: () => Promise<ResolvedConfig>;
  /** Extra work at final exit, after the pid and status files are gone. */
  onExit?: () => void;
  /** The pid file, if any: renamed to `.oldbin` while a successor master boots. */
  pidFile: string | null;
  /**
   * Where the status file and the stats report go; absent: beside the pid file (none without one).
   * A master without a pid file keeps them in its run directory (files/registry.ts).
   */
  stateFiles?: { status: string; stats: string } | null;
  /**
   * The admin listener's class, loaded by boot.ts only when `admin` is set: node:http and the
   * admin code cost a master that does not serve them ~1.5 MiB of RSS (Node 20; more on later
   * lines). Absent: no admin listener.
   */
  adminServer?: AdminListenerClass;
  /** Set when this master was started by USR2: the old master to notify (and maybe quit). */
  parentMaster: number | null;
  /** Where stuck workers' reports go; null or absent: kill without asking (stuck-report.ts). */
  reportDir?: string | null;
  /** Sockets came from systemd: they are fixed, a reload does not rebind them. */
  listenersFixed: boolean;
}

/**
 * The admin listener as the master drives it (src/admin/server.ts, a floor above: it reads the
 * master's stats, so the master knows it only by this shape, and boot is handed the class). It
 * reads the stats report (cached, at most once a second) and the master's snapshot (what the
 * status file says, current at every call: /healthz).
 */
export interface AdminListener {
  start(): void;
  close(): void;
}
export type AdminListenerClass = new (spec: string, report: () => StatusReport, log: Logger, status: () => MasterStatus) => AdminListener;

export class Master {
  /** What the master wants running: replaced only by install(), read by every phase through `() => this.desired`. */
  private current: Desired;
  readonly supervisor: Supervisor;
  readonly reload: Reload;
  readonly upgrade: Upgrade;
  /** `max-workers`: the worker count it wants within the Desired's bounds (supervision/elastic.ts). */
  private readonly elastic: Elastic;
  private stopping: Stop | null = null;
  /** `lame-duck S`: before a graceful stop, S seconds of serving with /healthz 503 (lame-duck.ts). */
  private readonly lameDuck: LameDuck;
  private readonly inbox: Inbox;
  private readonly loopGuard = new LoopGuard();
  private readonly status: StatusFile | null;
  private readyAnnounced = false;
  private finished = false;
  /** Why the master gives up on its own (the crash-loop halt): repeated in its last line. */
  private halt: Record<string, string | number> | null = null;
  private lastDuties: number;
  private tickTimer: NodeJS.Timeout | null = null;
  /** A USR1 arrived since the last duties: reopen the log files (and tell the workers) once. */
  private reopenLogsDue = false;
  /** Totals that survive worker exits: what `raas status`, /metrics and the page read. */
  private readonly stats: MasterStats;
  private admin: AdminListener | null = null;
  private fileWatch: FileWatch | null = null;

  constructor(
    settings: Settings,
    hooks: MasterHooks,
    listeners: BoundListener[],
    private readonly deps: MasterDeps,
    workerEnv?: Readonly<Record<string, string>>,
  ) {
    const { system, log } = deps;
    this.current = firstDesired(settings, hooks, listeners, workerEnv);
    const desired = (): Desired => this.current;
    this.lastDuties = system.clock();
    this.inbox = new Inbox((event) => this.handle(event), () => this.duties(), (error, during) => this.loopFailed(error, during));
    const post = (event: MasterEvent): void => this.inbox.post(event);
    // Wired once, here, in dependency order: nothing is handed to a phase after it exists.
    this.lameDuck = new LameDuck(log);
    this.stats = this.createStats();
    this.supervisor = new Supervisor({
      system,
      log,
      desired,
      post,
      observer: this.stats,
      lameDuck: this.lameDuck,
      stuck: new StuckReports(deps.reportDir ?? null),
    });
    this.upgrade = new Upgrade(system, log, deps.pidFile, deps.parentMaster);
    this.reload = new Reload({
      system,
      log,
      desired,
      loadConfig: deps.loadConfig,
      listenersFixed: deps.listenersFixed,
      post,
      generationReady: () => this.supervisor.generationReady(),
    });
    this.elastic = new Elastic({
      system,
      log,
      desired,
      workers: () => this.supervisor.table.unordered(),
      waiting: () => this.stats.waiting(),
      hold: () => this.scalingHold(),
    });
    const statusFile = this.stateFiles()?.status;
    this.status =
      statusFile === undefined ? null : new StatusFile(statusFile, (error) => log.error(LOG.STATUS_FILE_ERROR, { error }));
  }

  /** What the master wants running now (immutable; replaced by install()). */
  get desired(): Desired {
    return this.current;
  }

  /** The one place the Desired changes: a reload, its abort, TTIN, TTOU, WINCH. */
  private install(next: Desired): void {
    this.current = next;
  }

  /** Carries out what a stop ordered: the supervisor sends each (never a weaker order than one sent). */
  private applyStop(orders: StopOrders): void {
    for (const { to, order, reason } of orders) {
      if (to === 'all') this.supervisor.orderAll(order, reason);
      else {
        const worker = this.supervisor.table.get(to);
        if (worker) this.supervisor.order(worker, order, reason);
      }
    }
  }

  /** Carries out what a reload ordered: the aborted generation goes, then the Desired it names is installed. */
  private apply(orders: ReloadOrders): void {
    if (orders.abandon !== undefined) this.supervisor.abandonGeneration(orders.abandon);
    if (orders.install !== undefined) this.install(orders.install);
  }

  /**
   * Installs the master's signal handlers, then takes the signals that arrived before the loop
   * ran (queued by early-signals.ts from the process's first line) and handles them first.
   */
  start(takeEarlySignals: () => readonly NodeJS.Signals[] = () => []): void {
    this.deps.system.onSignals((signal) => this.inbox.post({ kind: 'signal', signal }));
    for (const signal of takeEarlySignals()) this.inbox.post({ kind: 'signal', signal });
    this.tickTimer = setInterval(() => this.inbox.post({ kind: 'tick' }), TICK_MS);
    this.inbox.post({ kind: 'tick' });
    this.startObservability();
    this.startWatch();
  }

  /** `--watch`, read at start: the paths given, `@app` meaning the app's directory. */
  private startWatch(): void {
    const { watch, app } = this.desired.settings;
    if (watch.length === 0) return;
    const paths = [...new Set(watch.map((p) => (p === WATCH_APP_DIR ? (app === null ? process.cwd() : path.dirname(app)) : p)))];
    this.fileWatch = this.deps.system.watchFiles(paths, {
      changed: (file) => this.inbox.post({ kind: 'file-changed', path: file }),
      problem: (what) => this.log.warn(LOG.WATCH_PROBLEM, { problem: what }),
    });
    this.log.info(LOG.WATCHING, { paths: paths.join(',') });
  }

  post(event: MasterEvent): void {
    this.inbox.post(event);
  }

  private get log(): Logger {
    return this.deps.log;
  }

  private handle(event: MasterEvent): void {
    const now = this.deps.system.clock();
    switch (event.kind) {
      case 'tick':
        return;
      case 'signal':
        return this.onSignal(event.signal);
      case 'worker-message':
        return this.supervisor.onMessage(event.id, event.message, now);
      case 'worker-exit': {
        const failedBoot = this.supervisor.onExit(event, now, this.stopping === null);
        if (failedBoot) this.reload.bootFailed(failedBoot.generation);
        return;
      }
      case 'config-loaded':
        // After a stop began, the attempt is stale: the reload closes what it bound.
        return this.apply(this.reload.loaded(event, now));
      case 'config-refused':
        return this.reload.refused(event, now);
      case 'successor-ready':
        return this.upgrade.successorReady(event.pid, this.desired.settings.upgradeHandover);
      case 'successor-exit':
        return this.upgrade.successorExited(this.desired.settings.name, event.pid, event.code, event.signal);
      case 'file-changed':
        // `--watch`: a reload as HUP asks for one (queued and coalesced behind one under way).
        this.log.info(LOG.WATCH_CHANGED, { path: event.path });
        return this.reload.request(now, this.stopping !== null);
    }
  }

  private onSignal(signal: NodeJS.Signals): void {
    const spec = SIGNALS.find((s) => s.signal === signal);
    if (!spec) return;
    this.log.info(LOG.SIGNAL, { signal, action: spec.master });
    const { settings } = this.desired;
    const actions: Record<MasterAction, () => void> = {
      'graceful-stop': () => this.stop('graceful', null),
      'bounded-stop': () => this.stop('graceful', settings.shutdownTimeout * 1000),
      'immediate-stop': () => this.stop('immediate', null),
      reload: () => this.reload.request(this.deps.system.clock(), this.stopping !== null),
      reexec: () => {
        if (this.stopping) return;
        this.upgrade.start(settings.name, this.desired.listeners, {
          ready: (pid) => this.inbox.post({ kind: 'successor-ready', pid }),
          exit: (pid, code, sig) => this.inbox.post({ kind: 'successor-exit', pid, code, signal: sig }),
        });
      },
      'stop-workers': () => {
        if (this.deps.system.hasControllingTerminal()) {
          return this.log.warn(LOG.SIGNAL, { signal: 'SIGWINCH', ignored: 'controlling terminal (resize)' });
        }
        this.scale(withNoWorkers(this.desired));
        this.log.info(LOG.WORKERS_STOPPED);
      },
      // TTIN and TTOU move both bounds of the elastic window (equal on a fixed pool), and the count.
      'add-worker': () => this.scale(withBoundsMoved(this.desired, +1)),
      'remove-worker': () => this.scale(withBoundsMoved(this.desired, -1)),
      // Done once per turn, in the duties: a burst of USR1 (a group signal storm, several
      // rotations at once) reopens once, instead of once per signal ahead of every other event.
      'reopen-logs': () => void (this.reopenLogsDue = true),
    };
    actions[spec.master]();
  }

  private scale(next: Desired): void {
    this.log.info(LOG.SCALE, { from: this.desired.target, to: next.target, min: next.bounds.min, max: next.bounds.max });
    this.install(next);
  }

  /** The elastic policy never scales during a stop, a reload, a lame duck or an upgrade. */
  private scalingHold(): string | null {
    if (this.stopping) return 'stop';
    if (this.reload.busy) return 'reload';
    if (this.lameDuck.active) return 'lame-duck';
    if (this.upgrade.successorSnapshot() !== null || this.upgrade.socketsShared()) return 'upgrade';
    return this.supervisor.generationReady() ? null : 'settling';
  }

  private stop(order: 'graceful' | 'immediate', boundMs: number | null, exitCode: number = EXIT.OK): void {
    if (this.stopping) return this.applyStop(this.stopping.again(order, boundMs, exitCode, EXIT.OK));
    const now = this.deps.system.clock();
    if (this.lameDuck.active) {
      // Lame duck is a graceful stop under way: a second QUIT changes nothing, TERM or INT stops at once.
      if (order === 'graceful' && boundMs === null) return;
      this.lameDuck.cancel();
      order = 'immediate';
    } else if (order === 'graceful' && exitCode === EXIT.OK) {
      const workers = this.supervisor.table.all().map((w) => w.handle);
      if (this.lameDuck.begin(now, this.desired.settings.lameDuck, boundMs, this.upgrade.socketsShared(), workers)) return;
    }
    this.reload.stop(this.deps.system.clock());
    const host = {
      system: this.deps.system,
      log: this.log,
      desired: () => this.desired,
      workers: () => this.supervisor.table.all(),
      socketsShared: () => this.upgrade.socketsShared(),
    };
    this.stopping = new Stop(host, order, boundMs, exitCode);
    this.applyStop(this.stopping.begin());
  }

  /**
   * A handler or duty threw: the event is lost, the loop is not. Repeated errors mean the state
   * cannot be trusted any more: stop gracefully (bounded like TERM) with a distinct exit code,
   * and if even that keeps failing, kill the workers and leave.
   */
  private loopFailed(error: unknown, during: LoopStep): void {
    this.log.error(LOG.MASTER_LOOP_ERROR, { during, error: errorWithStack(error) });
    const verdict = this.loopGuard.record(this.deps.system.clock());
    if (verdict === 'stop') {
      this.log.error(LOG.MASTER_UNSOUND, { errors: this.loopGuard.recent, window_s: this.loopGuard.windowMs / 1000 });
      this.stop('graceful', this.desired.settings.shutdownTimeout * 1000, EXIT.MASTER_UNSOUND);
    } else if (verdict === 'abandon') {
      this.log.error(LOG.MASTER_UNSOUND, { abandon: true, remaining: this.supervisor.table.size });
      for (const worker of this.supervisor.table.all()) worker.handle.kill('SIGKILL');
      this.finish(this.stopping?.exitCode ?? EXIT.MASTER_UNSOUND);
    }
  }

  // ---- duties, after every batch of events ----------------------------------------------------

  private duties(): void {
    if (this.finished) return;
    const now = this.deps.system.clock();
    // Duties run at least every tick; a longer gap means the master itself was stopped or stalled,
    // and no beat sent meanwhile could be read. Checked here, before any kill, whatever event
    // woke us first.
    if (now - this.lastDuties > STALL_MS) {
      this.log.warn(LOG.MASTER_STALLED, { gap_ms: Math.round(now - this.lastDuties) });
      this.supervisor.forgiveSilence(now);
    }
    this.lastDuties = now;
    if (this.reopenLogsDue) this.reopenLogs();
    this.upgrade.duties();
    this.reapOrphans();
    this.supervisor.killSilent(now);
    this.supervisor.boundDrains(now);
    const lameDuckOver = this.lameDuck.takeDue(now);
    if (lameDuckOver) this.stop('graceful', lameDuckOver.boundMs);
    if (this.stopping) {
      const { orders, done } = this.stopping.advance(now);
      this.applyStop(orders);
      if (done) return this.finish(this.stopping.exitCode);
      return this.publishStatus();
    }
    this.apply(this.reload.advance(now));
    const elastic = this.elastic.advance();
    if (elastic !== null) this.install(withTarget(this.desired, elastic));
    if (!this.reload.busy) {
      this.supervisor.recycle(now);
      if (this.desired.settings.rebalance === 'on') this.supervisor.rebalance(now);
    }
    this.supervisor.keepCount(now);
    this.supervisor.retireSurplus();
    this.announceReady();
    const cannot = this.supervisor.cannotBoot(now);
    if (cannot !== null && !this.reload.busy) {
      this.halt = { why: 'workers-cannot-boot', failures: cannot.failures, first_error: cannot.firstError };
      this.log.error(LOG.WORKERS_CANNOT_BOOT, {
        failures: cannot.failures,
        rule: cannot.rule,
        ...(cannot.rule === 'first-start' ? { boot_timeout_s: this.desired.settings.bootTimeout } : {}),
        first_error: cannot.firstError,
      });
      this.stop('immediate', null, EXIT.WORKERS_CANNOT_BOOT);
    }
    this.publishStatus();
  }

  private reopenLogs(): void {
    this.reopenLogsDue = false;
    this.log.reopen();
    // user/group: workers reopen as their user the files a rotation left to root (log-grant.ts).
    grantLogFilesQuietly(this.desired.settings);
    this.supervisor.reopenLogs();
    this.log.info(LOG.LOGS_REOPENED);
  }

  private finish(exitCode: number): void {
    if (this.finished) return;
    this.finished = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.tickTimer = null;
    // Another master serving from the same sockets (our successor, or the master we were to
    // replace, after a back-out) needs them and their Unix socket files: leave them alone.
    this.stopping?.closeListeners();
    if (!this.stopping && !this.upgrade.socketsShared()) for (const l of this.desired.listeners) this.deps.system.closeListener(l);
    this.status?.remove();
    this.stopObservability();
    this.fileWatch?.close();
    this.upgrade.atExit();
    this.deps.onExit?.();
    // A crash-loop halt's last line says why again: it is the line an operator reads first.
    if (this.halt !== null) this.log.error(LOG.STOPPED, { exit_code: exitCode, ...this.halt });
    else this.log.info(LOG.STOPPED, { exit_code: exitCode });
    this.deps.system.exit(exitCode);
  }

  private announceReady(): void {
    if (this.readyAnnounced || !this.supervisor.generationReady()) return;
    this.readyAnnounced = true;
    this.log.info(LOG.READY, {
      listen: this.desired.listeners.map((l) => l.bound).join(','),
      workers: this.desired.target,
      master_pid: process.pid,
    });
    this.upgrade.announceReady(this.desired.settings.upgradeHandover);
  }

  private reapOrphans(): void {
    const reap = this.deps.system.reapOrphans;
    if (!reap) return;
    // Our own children are libuv's to reap: their exit statuses are how we learn of deaths.
    const ours = this.supervisor.table.pids();
    const successor = this.upgrade.successorSnapshot();
    if (successor) ours.push(successor.pid);
    for (const [pid, status] of reap(ours)) this.log.info(LOG.REAPED_UNKNOWN, { orphan_pid: pid, ...describeStatus(status) });
  }

  /**
   * What the status file says (`raas status`, `raas reload` read it). The stats report shows the
   * same master and the same snapshot of the workers (stats/snapshot.ts).
   */
  snapshot(): MasterStatus {
    return {
      pid: process.pid,
      name: this.desired.settings.name,
      phase: this.stopping ? 'stopping' : this.lameDuck.active ? 'lame-duck' : 'running',
      ready: this.supervisor.generationReady(),
      generation: this.desired.generation,
      target: this.desired.target,
      workers: workerSnapshot(this.supervisor.table.all()),
      reloads: this.reload.status,
      successor: this.upgrade.successorSnapshot(),
      upgrades: this.upgrade.counts,
    };
  }

  private publishStatus(): void {
    this.status?.publish(this.snapshot());
  }

  // ---- observability ----------------------------------------------------------------------------

  private stateFiles(): { status: string; stats: string } | null {
    const { pidFile, stateFiles } = this.deps;
    if (stateFiles !== undefined) return stateFiles;
    return pidFile === null ? null : { status: statusPath(pidFile, process.pid), stats: statsPath(pidFile, process.pid) };
  }

  private createStats(): MasterStats {
    const { system } = this.deps;
    return new MasterStats(
      {
        clock: () => system.clock(),
        workers: () => this.supervisor.table.all(),
        listeners: () => this.desired.listeners,
        master: () => {
          const { name, phase, generation, target, reloads, upgrades } = this.snapshot();
          return { name, phase, generation, target, backlog: this.desired.settings.backlog, reloads, upgrades, elastic: this.elastic.status() };
        },
      },
      this.stateFiles()?.stats ?? null,
    );
  }

  /** The admin listener is the master's own socket, never a worker's; its address is read at start. */
  private startObservability(): void {
    this.stats.start();
    const address = this.desired.settings.admin;
    const AdminServerClass = this.deps.adminServer;
    if (address === null || AdminServerClass === undefined) return;
    this.admin = new AdminServerClass(address, () => this.stats.report(), this.log, () => this.snapshot());
    this.admin.start();
  }

  private stopObservability(): void {
    this.stats.stop();
    this.admin?.close();
    this.admin = null;
  }
}
