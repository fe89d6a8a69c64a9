// One worker's HTTP protocol (built by index.ts, the front door): the servers of its http:// and
// https:// listeners, the requests it hands to the built-ins or the app, the drain, the lame
// duck and the master's shed order (carried out by shed.ts), and the app's hooks.
// Runs in: workers.

import type * as http from 'node:http';
import type * as net from 'node:net';
import { LOG, type Logger } from '../../log.js';
import { loadHttps, nodeHttp } from '../../node-http.js';
import type { Settings } from '../../config/settings.js';
import { readTlsFiles, type TlsFiles } from '../../config/tls-files.js';
import { NO_STATS, type Protocol, type ProtocolContext, type ProtocolStats, type ServerOptions } from '../types.js';
import { requestCounter } from './request-stats.js';
import type { AccessLog } from './access-log.js';
import type { IdleCloser } from './idle-closer.js';
import type { LoadedApp, SelfServingApp } from './app.js';
import { createBuiltinHandler, type BuiltinHandler } from './builtin.js';
import type { ListenRouter } from './listen-router.js';
import { closeServer, onClientError, serverOptions } from './server.js';
import { guardServer } from './guard.js';
import { serve, servedServer, type KeepAliveShed, type ServedServer } from './shed.js';
import type { WorkerListener } from '../../ipc.js';
import { errorWithStack } from '../../errors.js';

/** Zero-code mode: how long a worker waits for its app to listen before saying so. */
const APP_LISTEN_WARN_MS = 5000;
/**
 * While draining, a keep-alive connection idle for a whole sweep of this length (no byte, no
 * response) is closed. Long enough that a busy client whose own event loop lags (a loaded
 * machine) has sent its next request first: at 250 ms, one suite run on a loaded machine lost one
 * of 1,162 keep-alive requests to that race. A drain takes at most two sweeps longer for idle clients.
 */
const IDLE_SWEEP_MS = 1000;

export class HttpProtocol implements Protocol {
  private readonly settings: Settings;
  private readonly log: Logger;
  private readonly servers: net.Server[] = [];
  private readonly builtin: BuiltinHandler | null;
  private draining = false;
  private lame = false;
  private readonly noKeepAlive: boolean;
  private drained: Promise<void> | null = null;
  private started: Promise<void> | null = null;
  private stopped: Promise<void> | null = null;
  private tls: TlsFiles | null = null;
  /** The exported app (export mode), or null for the built-in endpoints. */
  private readonly app: LoadedApp | null;
  private readonly hooks: LoadedApp | SelfServingApp | null;
  private readonly stats: ProtocolStats;
  private readonly countRequest: (listener: number, res: http.ServerResponse) => void;

  constructor(
    private readonly ctx: ProtocolContext,
    app: LoadedApp | SelfServingApp | null,
    private readonly accessLog: AccessLog | null,
    /** Zero-code mode: the app's own servers, taken from its listen() calls. */
    private readonly router: ListenRouter | null,
    /** The connections of every server served (the app's included), for the drain and the shed. */
    private readonly idle: IdleCloser,
    /** The master's rebalancing order, shared by every server served. */
    private readonly shedOrder: KeepAliveShed,
  ) {
    this.settings = ctx.settings;
    this.log = ctx.log;
    this.stats = ctx.stats ?? NO_STATS;
    this.countRequest = requestCounter(this.stats);
    this.noKeepAlive = ctx.settings.keepAliveTimeout === 0;
    this.hooks = app;
    this.app = app !== null && app.kind !== 'self' ? app : null;
    this.builtin =
      app === null
        ? createBuiltinHandler({ maxBody: ctx.settings.maxBody, isDraining: () => this.draining || this.lame })
        : null;
  }

  /** Zero-code mode: the app listens on `listener` itself; resolves once it does. */
  appListens(listener: WorkerListener): Promise<void> | null {
    if (this.router === null || this.hooks?.kind !== 'self') return null;
    const listening = this.router.whenListening(listener);
    if (listening === null) return null;
    this.warnNotListening();
    return listening.then(() => undefined);
  }

  private notListeningTimer: NodeJS.Timeout | null = null;

  /**
   * A worker whose app never listens on a listener is never ready, and the master kills it at
   * boot-timeout: one line first, well within boot-timeout, naming the app, the listeners it has
   * not taken and every one it was expected to take. One timer for all the listeners.
   */
  private warnNotListening(): void {
    const router = this.router;
    if (this.notListeningTimer !== null || router === null) return;
    const warnAfterMs = Math.min(APP_LISTEN_WARN_MS, (this.settings.bootTimeout * 1000) / 2);
    this.notListeningTimer = setTimeout(() => {
      const waiting = router.waiting;
      if (waiting.length === 0) return;
      this.log.warn(LOG.APP_NOT_LISTENING, {
        app: this.settings.app ?? '',
        waiting: waiting.join(' '),
        expected: router.expected.join(' '),
        after_ms: warnAfterMs,
        boot_timeout_s: this.settings.bootTimeout,
        why: 'the app has not called listen() on these yet; a worker is ready once its app listens on every http:// listener (listen(process.env.PORT) takes the first)',
      });
    }, warnAfterMs);
    this.notListeningTimer.unref();
  }

  /** `secure`: a server of an https:// listener, TLS with the tls-cert/tls-key files read at boot. */
  createServer({ listener = 0, secure = false }: ServerOptions = {}): net.Server {
    const server = secure
      ? loadHttps().createServer({ ...serverOptions(this.settings), ...this.tlsFiles() })
      : nodeHttp.createServer(serverOptions(this.settings));
    guardServer(server, { settings: this.settings, log: this.log });
    const served = serve(server, this.shedOrder);
    // Registering 'checkContinue' turns off node's automatic "100 Continue", so the built-in
    // POST /reverse can refuse an oversized declared body (413) before the client uploads it.
    server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => this.onRequest(req, res, true, listener, served));
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.onRequest(req, res, false, listener, served));
    // A TLS server's HTTP connection is the TLSSocket, not the TCP socket under it.
    const connection = secure ? 'secureConnection' : 'connection';
    server.on(connection, () => this.stats.accepted(listener));
    this.idle.watch(server, connection);
    server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => onClientError(err, socket, this.log));
    const upgrade = this.app?.upgrade;
    if (upgrade) {
      server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) =>
        this.invokeUpgrade(upgrade, listener, req, socket, head),
      );
    }
    this.servers.push(server);
    return server;
  }

  private tlsFiles(): TlsFiles {
    this.tls ??= readTlsFiles(this.settings);
    return this.tls;
  }

  /**
   * The same protocol as seen by the runtime for https:// listeners: its servers speak TLS, all
   * else is shared (one app, hooks called once, one drain).
   */
  secureFacet(): Protocol {
    return {
      createServer: (options) => this.createServer({ ...options, secure: true }),
      appListens: (listener) => this.appListens(listener),
      start: () => this.start(),
      drain: () => this.drain(),
      stop: () => this.stop(),
    };
  }

  start(): Promise<void> {
    this.started ??= (async () => {
      await this.hooks?.workerStart?.({ slot: this.ctx.slot, generation: this.ctx.generation ?? 0 });
    })();
    return this.started;
  }

  drain(): Promise<void> {
    if (this.drained !== null) return this.drained;
    this.draining = true;
    const servers = [...this.servers, ...(this.router?.servers ?? [])];
    // From now on every head these servers write says `Connection: close`, in-flight ones included.
    for (const server of servers) servedServer(server)?.drain(this.idle.responses(server));
    this.idle.start(IDLE_SWEEP_MS, this.settings.headersTimeout * 1000);
    // The app's workerDrain runs while the servers stop accepting: it closes what RAAS cannot
    // see as idle (WebSockets with 1001 "going away", SSE streams), so the drain can end.
    const appDrain = this.callHook('workerDrain', this.hooks?.workerDrain ?? null);
    this.drained = Promise.all([...servers.map(closeServer), appDrain]).then(() => this.idle.stop());
    return this.drained;
  }

  private async callHook(name: string, hook: (() => unknown) | null): Promise<void> {
    if (hook === null) return;
    try {
      await hook();
    } catch (err) {
      this.log.error(LOG.HANDLER_ERROR, { during: name, error: errorWithStack(err) });
    }
  }

  /** The app's upgrade handler; a throw or rejection logs and destroys that one socket. */
  private invokeUpgrade(upgrade: NonNullable<LoadedApp['upgrade']>, listener: number, req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    const failed = (err: unknown): void => {
      this.log.error(LOG.HANDLER_ERROR, { during: 'upgrade', url: req.url, error: errorWithStack(err) });
      socket.destroy();
    };
    try {
      this.stats.upgraded?.(listener);
      const result = upgrade(req, socket, head);
      if (typeof (result as PromiseLike<unknown> | null)?.then === 'function') (result as PromiseLike<unknown>).then(undefined, failed);
    } catch (err) {
      failed(err);
    }
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      try {
        await this.hooks?.workerStop?.();
      } finally {
        this.accessLog?.close();
      }
    })();
    return this.stopped;
  }

  reopenLogs(): void {
    this.accessLog?.reopen();
  }

  /** Rebalancing: `Connection: close` on the next keep-alive responses, down to `target` connections. */
  shed(connections: number, target: number): void {
    this.shedOrder.order(connections, target);
  }

  /** Lame duck: the built-in /healthz answers 503 "draining"; every other request is served as usual. */
  lameDuck(): void {
    this.lame = true;
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse, expectContinue: boolean, listener: number, served: ServedServer): void {
    this.countRequest(listener, res);
    // keep-alive-timeout 0 means no keep-alive at all (to node, 0 means "idle forever").
    if (this.noKeepAlive) res.shouldKeepAlive = false;
    else served.closeAfter(res); // draining, or the shed lets this one go
    this.accessLog?.track(req, res);

    const app = this.app;
    if (app !== null) {
      if (expectContinue) res.writeContinue(); // what node does when nobody listens for it
      this.invoke(() => app.listener(req, res), req, res);
    } else {
      const builtin = this.builtin as BuiltinHandler;
      this.invoke(() => builtin(req, res, expectContinue), req, res);
    }
  }

  /** Calls a handler; a sync throw or a rejected promise becomes a 500 (or a reset). */
  private invoke(handler: () => unknown, req: http.IncomingMessage, res: http.ServerResponse): void {
    let result: unknown;
    try {
      result = handler();
    } catch (err) {
      this.fail(err, req, res);
      return;
    }
    if (typeof (result as PromiseLike<unknown> | null)?.then === 'function') {
      (result as PromiseLike<unknown>).then(undefined, (err: unknown) => this.fail(err, req, res));
    }
  }

  private fail(err: unknown, req: http.IncomingMessage, res: http.ServerResponse): void {
    this.log.error(LOG.HANDLER_ERROR, {
      method: req.method,
      url: req.url,
      error: errorWithStack(err),
    });
    if (res.writableEnded) return;
    if (res.headersSent) {
      // Half a response is on the wire: the only honest signal left is to cut the connection.
      res.destroy();
      return;
    }
    for (const name of res.getHeaderNames()) res.removeHeader(name); // don't leak app headers
    const body = 'internal server error\n';
    res.writeHead(500, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}
