// The worker runtime: listens on the inherited sockets, reports readiness, beats, obeys the
// master's commands and signals, drains and exits. Knows nothing of any protocol's details.
// Runs in: workers.

import * as net from 'node:net';
import { EXIT } from '../exit-codes.js';
import {
  isMasterMessage,
  type WorkerBootConfig,
  type WorkerListener,
  type WorkerMessage,
  type WorkerRecycleReason,
} from '../ipc.js';
import { LOG, Logger } from '../log.js';
import { setProcessTitle, workerTitle } from '../process-title.js';
import type { Protocol } from '../protocols/types.js';
import { SIGNALS, type WorkerAction } from '../signals.js';
import { startHeartbeat } from './heartbeat.js';
import { WorkerStatsCollector } from './stats.js';
import { requireProxyHeader } from '../protocols/proxy-listener.js';
import { AcceptErrorLog } from './accept-errors.js';
import { setCloexecAll } from './cloexec.js';
import { adoptListenerSocket, type ServerHandle } from './inherited-socket.js';
import { protocolFactory, splitProtocol } from './protocols.js';
import { dropPrivileges } from './privileges.js';
import { errorSummary, errorWithStack } from '../errors.js';
import { captureAppOutput } from './app-output.js';

/** How long a worker whose master died may spend finishing connections before it leaves. */
const ORPHAN_GRACE_MS = 500;
const PARENT_POLL_MS = 250;
const IPC_FD = 3;

export class WorkerRuntime {
  private readonly log: Logger;
  private readonly protocols = new Map<string, Protocol>();
  private stopping = false;
  private readonly stats: WorkerStatsCollector;
  private lame = false;
  private crashWhileStopping = false;
  /**
   * The inherited sockets, adopted and checked at boot; kept referenced for the worker's life, so
   * that a handle nobody listens on (an app that listens itself) is never collected with its fd.
   */
  private sockets: readonly ServerHandle[] = [];
  /** Replacements asked of the master (a 'recycle' message), once per reason. */
  private readonly asked = new Set<WorkerRecycleReason>();
  /** Zero-code mode: stops watching the app's listeners (set once the worker is ready). */
  private unwatchApp: (() => void) | null = null;

  constructor(private readonly config: WorkerBootConfig) {
    const { settings, slot, generation } = config;
    this.log = new Logger({ role: 'worker', pid: process.pid, slot, gen: generation }, settings.logFile);
    this.stats = new WorkerStatsCollector(config.listeners);
  }

  async run(): Promise<void> {
    const { settings, slot } = this.config;
    const cut = setProcessTitle(workerTitle(settings.name, slot));
    if (cut !== null) this.log.warn(LOG.TITLE_TRUNCATED, { title: cut });
    this.installSignalHandlers();
    this.watchMaster();
    this.installCrashHandlers();
    // Before anything of the app's runs (the watchdog import below included).
    if (settings.appOutput === 'log') captureAppOutput(this.log);
    process.on('message', (message) => {
      if (!isMasterMessage(message)) return;
      switch (message.type) {
        case 'lame-duck':
          return this.lameDuck();
        case 'shed':
          return this.shed(message.connections, message.target);
        case 'reopen-logs':
          return this.reopenLogs();
        case 'request-limit':
          return this.watchRequestLimit(message.limit);
      }
    });

    // Spawned while the master is a lame duck: lame from the first request on.
    if (this.config.lameDuck) this.lameDuck();

    // Loaded only when on (node:worker_threads costs a `worker-watchdog off` worker ~0.5 MiB of
    // RSS), after the message handler (nothing the master sends is missed during the import) and
    // before the app loads (a worker stuck loading its app can still report where).
    const { watchdogFd } = this.config;
    if (watchdogFd != null) {
      const failed = (err: unknown): void => this.log.warn(LOG.WATCHDOG_FAILED, { error: errorWithStack(err) });
      try {
        const { startWatchdog } = await import('./watchdog.js');
        startWatchdog(watchdogFd, this.config.masterPid, failed);
      } catch (err) {
        failed(err);
      }
    }

    try {
      // Everything that can fail (loading the app, its workerStart hook) happens before the first
      // listen(): a worker that accepted connections and then died at boot would reset them.
      // First, before the app loads: a socket the master did not really bind is refused.
      const sockets = this.config.listeners.map((l) => adoptListenerSocket(l));
      this.closeOnExec();
      // user/group: root's files are taken first (TLS key, log files), then root is given up.
      dropPrivileges(this.config.settings, this.config.listeners, this.log);
      await this.createProtocols();
      for (const protocol of this.protocols.values()) await protocol.start?.();
      await this.listenAll(sockets);
    } catch (err) {
      this.log.error(LOG.WORKER_BOOT_FAILED, { error: errorWithStack(err) });
      // The master repeats the first boot error when it gives up (its crash-loop halt).
      this.sendThen({ type: 'boot-failed', error: errorSummary(err) }, () => process.exit(EXIT.WORKER_BOOT_ERROR));
      return;
    }
    if (this.stopping) return;
    this.send({ type: 'ready' });
    if (settings.app !== null) await this.watchAppListeners();
    startHeartbeat(this.config.heartbeatMs, (m) => this.send(m), () => this.stats.snapshot());
    this.log.info(LOG.WORKER_LISTENING, {
      listen: this.config.listeners.map((l) => l.address).join(','),
      'fast-path': this.protocols.get('line')?.fastPath,
    });
  }

  /** Before the app loads: nothing it spawns may inherit a listener (or our IPC channel). */
  private closeOnExec(): void {
    const fds = this.config.listeners.map((l) => l.fd);
    // The launcher puts the IPC channel at fd 3.
    if (process.channel) fds.push(IPC_FD);
    const { leaking, error } = setCloexecAll(fds);
    if (leaking.length > 0) {
      this.log.warn(LOG.FDS_INHERITABLE, {
        fds: leaking.join(','),
        error,
        consequence: 'subprocesses the app starts inherit these sockets and keep the ports bound after RAAS exits',
      });
    }
  }

  private async createProtocols(): Promise<void> {
    const { listeners, settings, slot, generation } = this.config;
    for (const { protocol } of listeners) {
      const name = splitProtocol(protocol).base;
      if (this.protocols.has(name)) continue;
      const created = await protocolFactory(name)({ settings, log: this.log, slot, generation, listeners, stats: this.stats });
      this.protocols.set(name, created);
      // Spawned during the master's lame duck, or told while still booting.
      if (this.lame) created.lameDuck?.();
    }
  }

  private async listenAll(sockets: readonly ServerHandle[]): Promise<void> {
    const { listeners, settings } = this.config;
    this.sockets = sockets;
    await Promise.all(
      listeners.map((l, index) => {
        const { base, proxyHeader } = splitProtocol(l.protocol);
        const protocol = this.protocols.get(base)!;
        // Zero-code apps listen by themselves (the protocol hands them the socket): wait for it.
        const own = protocol.appListens?.(l);
        if (own) return own;
        const options = { listener: index, proxyHeader };
        // A protocol may serve the fd itself (the native line path; never a +proxy listener, whose
        // connections must pass the PROXY gate on net.Server's 'connection'): it counts through
        // this.stats.external. Otherwise a net.Server does.
        if (!proxyHeader && protocol.serveFd?.(l.fd, settings.backlog, options)) return;
        const server = protocol.createServer(options);
        if (proxyHeader) requireProxyHeader(server, { listener: l.address, proxyFrom: settings.proxyFrom, log: this.log });
        this.stats.setServer(index, server);
        return listen(server, sockets[index]!, settings.backlog, l, this.log);
      }),
    );
  }

  /**
   * max-requests: the master sends this worker's own limit (jitter included) once it is ready.
   * The worker counts every request it answers (stats.ts) and, the moment the count reaches the
   * limit, asks for its replacement. It serves on meanwhile: the master tells it to drain once the
   * replacement is ready, so capacity never drops.
   */
  private watchRequestLimit(limit: number): void {
    this.stats.watchLimit(limit, (requests) => this.askRecycle('max-requests', { requests, limit }));
  }

  /**
   * Zero-code mode, from ready on: a listener the app's servers left (it closed its server and did
   * not listen again) for `boot-timeout` means a worker that serves nothing there yet looks ready.
   * It asks to be replaced, as at a request limit (listen-router.ts).
   */
  private async watchAppListeners(): Promise<void> {
    const { watchAppListeners } = await import('../protocols/http/listen-router.js');
    const afterMs = this.config.settings.bootTimeout * 1000;
    watchAppListeners({
      afterMs,
      lost: (listener, freeForMs) => {
        if (this.stopping) return;
        this.log.error(LOG.APP_STOPPED_LISTENING, {
          listen: listener.address,
          not_listening_ms: freeForMs,
          boot_timeout_s: this.config.settings.bootTimeout,
          why: 'the app closed its server on this listener and has not listened on it again; the worker asks to be replaced',
        });
        this.askRecycle('not-listening', { listen: listener.address, not_listening_ms: freeForMs });
      },
    });
    this.unwatchApp = () => watchAppListeners(null);
  }

  /** Asks the master for a replacement (once per reason); nothing once the worker drains anyway. */
  private askRecycle(reason: WorkerRecycleReason, details: Record<string, string | number>): void {
    if (this.stopping || this.asked.has(reason)) return;
    this.asked.add(reason);
    this.send({ type: 'recycle', reason, details });
  }

  /** A graceful stop is coming: fail health checks while serving on (see Protocol.lameDuck). */
  private lameDuck(): void {
    if (this.lame) return;
    this.lame = true;
    this.log.info(LOG.LAME_DUCK);
    for (const protocol of this.protocols.values()) protocol.lameDuck?.();
  }

  /** exitCode null: immediate. Otherwise drain every protocol, run stop hooks, exit with it. */
  private stop(exitCode: number | null): void {
    if (exitCode === null) process.exit(EXIT.OK);
    if (this.stopping) return;
    this.stopping = true;
    // The drain closes the app's servers: that is no listener lost.
    this.unwatchApp?.();
    this.log.info(LOG.WORKER_DRAINING);
    void (async () => {
      try {
        await Promise.all([...this.protocols.values()].map((p) => p.drain()));
        for (const protocol of this.protocols.values()) await protocol.stop?.();
      } catch (err) {
        this.log.error(LOG.HANDLER_ERROR, { during: 'drain', error: errorWithStack(err) });
      }
      this.log.info(LOG.WORKER_DRAINED);
      this.finalBeat(() => process.exit(exitCode));
    })();
  }

  /** The master's rebalancing (master/stats/rebalance.ts); a draining worker lets everything go anyway. */
  private shed(connections: number, target: number): void {
    if (this.stopping) return;
    for (const protocol of this.protocols.values()) protocol.shed?.(connections, target);
  }

  private reopenLogs(): void {
    this.log.reopen();
    for (const protocol of this.protocols.values()) protocol.reopenLogs?.();
  }

  private installSignalHandlers(): void {
    const actions: Record<WorkerAction, () => void> = {
      'graceful-stop': () => this.stop(EXIT.OK),
      'immediate-stop': () => this.stop(null),
      'reopen-logs': () => this.reopenLogs(),
      // A no-op handler matters: without one, TTIN/TTOU sent to the process group stop the worker.
      ignore: () => {},
    };
    for (const spec of SIGNALS) process.on(spec.signal, actions[spec.worker]);
  }

  /** Leaves within a second of the master's death, however it died: no orphans. */
  private watchMaster(): void {
    const orphaned = (how: string): void => {
      if (this.stopping) return;
      this.log.warn(LOG.WORKER_ORPHANED, { detected_by: how });
      setTimeout(() => process.exit(EXIT.WORKER_ORPHANED), ORPHAN_GRACE_MS);
      this.stop(EXIT.WORKER_ORPHANED);
    };
    process.on('disconnect', () => orphaned('channel-closed'));
    // Backstop for a channel that stays open although the parent is gone (it never should).
    setInterval(() => {
      if (process.ppid !== this.config.masterPid) orphaned('ppid');
    }, PARENT_POLL_MS).unref();
  }

  /**
   * An uncaught exception leaves the worker in an unknown state: log it, ask the master for a
   * replacement at once, and drain so no client of this worker notices.
   */
  private installCrashHandlers(): void {
    const crashed = (kind: string, err: unknown): void => {
      if (this.stopping) {
        // A failure while stopping (or a second one) must not recurse: anything this handler
        // does could fail the same way again, at full speed. Say it once, then leave.
        if (!this.crashWhileStopping) {
          this.crashWhileStopping = true;
          this.log.error(LOG.UNCAUGHT, { kind, error: errorWithStack(err), while: 'stopping' });
        }
        process.exit(EXIT.WORKER_CRASHED);
      }
      this.log.error(LOG.UNCAUGHT, { kind, error: errorWithStack(err) });
      this.send({ type: 'retiring', reason: kind });
      this.stop(EXIT.WORKER_CRASHED);
    };
    process.on('uncaughtException', (err) => crashed('uncaughtException', err));
    process.on('unhandledRejection', (err) => crashed('unhandledRejection', err));
  }

  /** The counters since the last beat would be lost with the process: send them, briefly waiting. */
  private finalBeat(then: () => void): void {
    this.sendThen({ type: 'beat', stats: this.stats.snapshot() }, then);
  }

  /** Sends a last message before `then` (an exit): waits for it to be written, 200 ms at most. */
  private sendThen(message: WorkerMessage, then: () => void): void {
    if (!process.connected || !process.send) return then();
    const timer = setTimeout(then, 200);
    try {
      process.send(message, () => {
        clearTimeout(timer);
        then();
      });
    } catch {
      clearTimeout(timer);
      then();
    }
  }

  private send(message: WorkerMessage): void {
    if (!process.connected || !process.send) return;
    try {
      // With a callback, a write that fails later (EPIPE: the master just died) is handed to it
      // instead of becoming an 'error' event, which would be an uncaught exception.
      process.send(message, undefined, undefined, ignoreSendError);
    } catch {
      // The channel closed between the check and the send: 'disconnect' handles that.
    }
  }
}

function listen(server: net.Server, socket: ServerHandle, backlog: number, listener: WorkerListener, log: Logger): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void =>
      reject(new Error(`cannot listen on ${listener.address} (fd ${listener.fd}): ${err.message}`));
    server.once('error', onError);
    // The backlog must be positional: `{ fd, backlog }` is silently ignored (511), and the last
    // listen(2) on a shared socket sets the queue length for everyone. The handle was checked
    // against the master's address (inherited-socket.ts); listen() takes it as is.
    server.listen(socket, backlog, () => {
      server.off('error', onError);
      // From now on 'error' means a failed accept (libuv passes EMFILE and the like to the
      // connection callback): log it, rate-limited, and keep serving. Unhandled, it would be an
      // uncaught exception and retire the worker when it is merely out of fds for a moment.
      const acceptErrors = new AcceptErrorLog(log, listener.address);
      server.on('error', (err) => acceptErrors.report(err));
      resolve();
    });
  });
}

/** A message the master will never read: its death is told by 'disconnect', not by this error. */
function ignoreSendError(err: Error | null): void {
  void err;
}
