// The HTTP/1.1 protocol: node:http servers (llhttp parses; keep-alive, pipelining, chunked
// bodies and 100-continue are node's) serving either the built-in /reverse and /healthz
// endpoints or the user's `app` module, with a graceful drain and an optional access log.
// A zero-code app (one that calls listen() itself) brings its own servers instead: RAAS hands
// them its sockets (listen-router.ts) and drains them the same way.
// Runs in: workers.

import type * as http from 'node:http';
import type * as net from 'node:net';
import { LOG, type Logger } from '../../log.js';
import { loadHttps, nodeHttp } from '../../node-http.js';
import type { Settings } from '../../config/settings.js';
import { readTlsFiles, type TlsFiles } from '../../config/tls-files.js';
import { NO_STATS, type Protocol, type ProtocolContext, type ProtocolFactory, type ProtocolStats, type ServerOptions } from '../types.js';
import { requestCounter } from './request-stats.js';
import { AccessLog } from './access-log.js';
import { IdleCloser } from './idle-closer.js';
import { importApp, recogniseApp, type LoadedApp, type SelfServingApp } from './app.js';
import { createBuiltinHandler, type BuiltinHandler } from './builtin.js';
import { ListenRouter } from './listen-router.js';
import { clientAddressResolver } from './forwarded.js';
import { closeServer, onClientError, serverOptions } from './server.js';
import { guardServer } from './guard.js';
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
    private readonly router: ListenRouter | null = null,
    private readonly idle = new IdleCloser(),
  ) {
    this.settings = ctx.settings;
    this.log = ctx.log;
    this.stats = ctx.stats ?? NO_STATS;
    this.countRequest = requestCounter(this.stats);
    installDrainHook();
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
    // A worker whose app never listens on a listener is never ready: say why before boot-timeout.
    const warnAfterMs = Math.min(APP_LISTEN_WARN_MS, (this.settings.bootTimeout * 1000) / 2);
    const timer = setTimeout(() => {
      this.log.warn(LOG.APP_NOT_LISTENING, {
        listen: listener.address,
        why: 'the app has not called listen() on it yet; a worker is ready once its app listens on every http:// listener',
      });
    }, warnAfterMs);
    timer.unref();
    return listening.then(() => clearTimeout(timer));
  }

  /** `secure`: a server of an https:// listener, TLS with the tls-cert/tls-key files read at boot. */
  createServer({ listener = 0, secure = false }: ServerOptions = {}): net.Server {
    const server = secure
      ? loadHttps().createServer({ ...serverOptions(this.settings), ...this.tlsFiles() })
      : nodeHttp.createServer(serverOptions(this.settings));
    guardServer(server, { settings: this.settings, log: this.log });
    // Registering 'checkContinue' turns off node's automatic "100 Continue", so the built-in
    // POST /reverse can refuse an oversized declared body (413) before the client uploads it.
    server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => this.onRequest(req, res, true, listener));
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.onRequest(req, res, false, listener));
    // A TLS server's HTTP connection is the TLSSocket, not the TCP socket under it.
    const connection = secure ? 'secureConnection' : 'connection';
    server.on(connection, () => this.stats.accepted(listener));
    this.idle.watch(server, connection);
    server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => onClientError(err, socket, this.log));
    const upgrade = this.app?.upgrade;
    if (upgrade) {
      server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) =>
        this.invokeUpgrade(upgrade, req, socket, head),
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
    for (const server of servers) drainingServers.add(server);
    anyDraining = true;
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
  private invokeUpgrade(upgrade: NonNullable<LoadedApp['upgrade']>, req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    const failed = (err: unknown): void => {
      this.log.error(LOG.HANDLER_ERROR, { during: 'upgrade', url: req.url, error: errorWithStack(err) });
      socket.destroy();
    };
    try {
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
    const open = this.idle.httpConnections();
    const excess = Math.min(connections, open - target);
    if (excess <= 0) return;
    shedBudget = SHED_BUDGET_FACTOR * excess;
    shedTarget = target;
    shedOpen = () => this.idle.httpConnections();
    shedUntil = Date.now() + SHED_WINDOW_MS;
    this.log.info(LOG.REBALANCE_SHED, { connections: excess, open, target });
  }

  /** Lame duck: the built-in /healthz answers 503 "draining"; every other request is served as usual. */
  lameDuck(): void {
    this.lame = true;
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse, expectContinue: boolean, listener: number): void {
    this.countRequest(listener, res);
    // keep-alive-timeout 0 means no keep-alive at all (to node, 0 means "idle forever").
    if (this.noKeepAlive) res.shouldKeepAlive = false;
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

/**
 * The master's rebalancing order being carried out: keep-alive responses answer `Connection:
 * close` while this worker holds more than shedTarget HTTP connections, at most shedBudget of
 * them, until shedUntil (a budget the traffic did not use in time is dropped: the next beat
 * decides anew).
 */
let shedBudget = 0;
let shedTarget = 0;
let shedOpen: () => number = () => 0;
let shedUntil = 0;
let lastShedAt = 0;
const SHED_WINDOW_MS = 2000;
/**
 * A closed client reconnects wherever the kernel puts it, often back here: shedding a fixed
 * excess moved about half of it (38/14 took three orders and 3.5 s to reach 29/21). So the worker
 * sheds until its own live count is down to the target, up to this many times the excess (a
 * bound on the reconnections one order can cause).
 */
const SHED_BUDGET_FACTOR = 3;
/**
 * One connection let go at a time: clients closed together reconnect together, and a burst is
 * what the busiest worker's loop takes whole again; one by one, each lands on a worker with time
 * to accept it. 20 connections take 0.2 s.
 */
const SHED_SPACING_MS = 10;

/** Servers whose protocol drains; read by the writeHead hook below. */
const drainingServers = new WeakSet<net.Server>();
/** The hot path's first test: no server drains in almost every request's life. */
let anyDraining = false;
let hookInstalled = false;

/**
 * Every head written while the worker drains says `Connection: close`, including responses that
 * were already in flight when the drain began; so do the heads of a rebalancing shed. The hook
 * sits on ServerResponse.prototype itself because frameworks replace a response's prototype
 * (Express does), which would bypass a subclass; node calls writeHead for implicit heads too. Measured alternatives: tracking every
 * response (a set entry and two listeners each) or an accessor on each instance (+40 % CPU per
 * request) cost far more than this one check.
 */
function installDrainHook(): void {
  if (hookInstalled) return;
  hookInstalled = true;
  const writeHead = nodeHttp.ServerResponse.prototype.writeHead as (...args: unknown[]) => http.ServerResponse;
  nodeHttp.ServerResponse.prototype.writeHead = function (this: http.ServerResponse, ...args: unknown[]) {
    if (anyDraining) {
      const server = (this.req?.socket as (net.Socket & { server?: net.Server }) | undefined)?.server;
      if (server !== undefined && drainingServers.has(server)) this.shouldKeepAlive = false;
    }
    if (shedBudget > 0 && this.shouldKeepAlive) {
      const now = Date.now();
      if (now > shedUntil) shedBudget = 0;
      else if (now - lastShedAt >= SHED_SPACING_MS) {
        // Counted now, this response's connection included: the clients that came back count too.
        if (shedOpen() <= shedTarget) shedBudget = 0;
        else {
          shedBudget--;
          lastShedAt = now;
          this.shouldKeepAlive = false;
        }
      }
    }
    return writeHead.apply(this, args);
  } as typeof http.ServerResponse.prototype.writeHead;
}

/**
 * One HTTP protocol per worker serves its http:// and https:// listeners alike. The runtime asks
 * for each protocol name with the same settings object, which keys the worker's instance (unit
 * tests, with a fresh settings object per protocol, get one each).
 */
const perWorker = new WeakMap<Settings, Promise<HttpProtocol>>();

function sharedHttpProtocol(ctx: ProtocolContext): Promise<HttpProtocol> {
  let protocol = perWorker.get(ctx.settings);
  if (protocol === undefined) {
    protocol = newHttpProtocol(ctx);
    perWorker.set(ctx.settings, protocol);
  }
  return protocol;
}

export const createHttpProtocol: ProtocolFactory = (ctx) => sharedHttpProtocol(ctx);

/** https:// listeners: TLS terminated by RAAS with tls-cert and tls-key (export mode, built-ins). */
export const createHttpsProtocol: ProtocolFactory = async (ctx) => (await sharedHttpProtocol(ctx)).secureFacet();

/** Loads the app module (if any) and opens the access log (if any) before any server exists. */
async function newHttpProtocol(ctx: ProtocolContext): Promise<HttpProtocol> {
  const { settings } = ctx;
  let app: LoadedApp | SelfServingApp | null = null;
  let router: ListenRouter | null = null;
  const idle = new IdleCloser();
  if (settings.app !== null) {
    // The app's own listen() calls may run while it loads, so the router goes first.
    if (ctx.listeners !== undefined) {
      const listeners = ctx.listeners;
      const count = requestCounter(ctx.stats ?? NO_STATS);
      router = new ListenRouter(listeners, settings.backlog, (server, listener) =>
        trackAppServer(server, idle, ctx.stats ?? NO_STATS, count, listeners.indexOf(listener)),
      );
      router.install();
      const port = router.portEnv();
      if (port !== null) process.env.PORT = port;
    }
    const mod = await importApp(settings.app);
    app = await recogniseApp(settings.app, mod, (router?.taken ?? 0) > 0);
    if (app.kind === 'self') {
      if (router === null) throw new Error(`${settings.app}: the module exports no app (no default export)`);
      ctx.log.info(LOG.APP_SELF_SERVING, { app: settings.app });
    } else {
      router?.refuse(
        'RAAS already serves this listener with the module\'s default export (export mode); ' +
          'a module that calls listen() itself should export no default',
      );
    }
  }
  const accessLog =
    settings.accessLog !== null
      ? new AccessLog(settings.accessLog, settings.accessLogFormat, ctx.log, clientAddressResolver(settings.trustProxy))
      : null;
  if (ctx.listeners?.some((l) => l.protocol === 'https') && (app === null || app.kind !== 'self')) {
    readTlsFiles(settings); // fail the boot now, with the setting's name, not at the first listen
  }
  return new HttpProtocol(ctx, app, accessLog, router, idle);
}

/**
 * An app's own server: its connections are closed by the drain's idle sweep like ours, and its
 * connections and requests are counted like ours (the stats, and max-requests).
 */
function trackAppServer(
  server: net.Server,
  idle: IdleCloser,
  stats: ProtocolStats,
  count: (listener: number, res: http.ServerResponse) => void,
  listener: number,
): void {
  // On a TLS server the HTTP connection is the TLSSocket ('secureConnection'), not the TCP one.
  // Only a tls.Server (https.Server included) has setSecureContext(); asking that instead of
  // `instanceof tls.Server` keeps node:tls unloaded in a worker whose app serves no TLS.
  const secure = typeof (server as net.Server & { setSecureContext?: unknown }).setSecureContext === 'function';
  const connection = secure ? 'secureConnection' : 'connection';
  idle.watch(server, connection);
  server.on(connection, () => stats.accepted(listener));
  // Counted on the response's 'close' (request-stats.ts): the order of 'request' listeners is moot.
  server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => count(listener, res));
}
