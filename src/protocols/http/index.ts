// The HTTP/1.1 protocol: node:http servers (llhttp parses; keep-alive, pipelining, chunked
// bodies and 100-continue are node's) serving either the built-in /reverse and /healthz
// endpoints or the user's `app` module, with a graceful drain and an optional access log.
// Runs in: workers.

import * as http from 'node:http';
import type * as net from 'node:net';
import { LOG, type Logger } from '../../log.js';
import type { Settings } from '../../config/settings.js';
import type { Protocol, ProtocolContext, ProtocolFactory } from '../types.js';
import { AccessLog } from './access-log.js';
import { IdleCloser } from './idle-closer.js';
import { loadApp, type LoadedApp } from './app.js';
import { createBuiltinHandler, type BuiltinHandler } from './builtin.js';
import { clientAddressResolver } from './forwarded.js';
import { closeServer, onClientError, serverOptions } from './server.js';

/** While draining, a keep-alive connection idle this long (no byte, no response) is closed. */
const IDLE_SWEEP_MS = 250;

export class HttpProtocol implements Protocol {
  private readonly settings: Settings;
  private readonly log: Logger;
  private readonly servers: http.Server[] = [];
  private readonly builtin: BuiltinHandler | null;
  private draining = false;
  private lame = false;
  private readonly noKeepAlive: boolean;
  private readonly idle = new IdleCloser();
  private drained: Promise<void> | null = null;

  constructor(
    ctx: ProtocolContext,
    private readonly app: LoadedApp | null,
    private readonly accessLog: AccessLog | null,
  ) {
    this.settings = ctx.settings;
    this.log = ctx.log;
    installDrainHook();
    this.noKeepAlive = ctx.settings.keepAliveTimeout === 0;
    this.builtin =
      app === null
        ? createBuiltinHandler({ maxBody: ctx.settings.maxBody, isDraining: () => this.draining || this.lame })
        : null;
  }

  createServer(): net.Server {
    const server = http.createServer(serverOptions(this.settings));
    // Registering 'checkContinue' turns off node's automatic "100 Continue", so the built-in
    // POST /reverse can refuse an oversized declared body (413) before the client uploads it.
    server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => this.onRequest(req, res, true));
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.onRequest(req, res, false));
    server.on('connection', (socket: net.Socket) => this.idle.track(socket));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => onClientError(err, socket, this.log));
    this.servers.push(server);
    return server;
  }

  async start(): Promise<void> {
    await this.app?.workerStart?.();
  }

  drain(): Promise<void> {
    if (this.drained !== null) return this.drained;
    this.draining = true;
    for (const server of this.servers) drainingServers.add(server);
    anyDraining = true;
    this.idle.start(IDLE_SWEEP_MS);
    this.drained = Promise.all(this.servers.map(closeServer)).then(() => this.idle.stop());
    return this.drained;
  }

  async stop(): Promise<void> {
    try {
      await this.app?.workerStop?.();
    } finally {
      this.accessLog?.close();
    }
  }

  reopenLogs(): void {
    this.accessLog?.reopen();
  }

  /** Lame duck: the built-in /healthz answers 503 "draining"; every other request is served as usual. */
  lameDuck(): void {
    this.lame = true;
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse, expectContinue: boolean): void {
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
      error: err instanceof Error ? (err.stack ?? err.message) : String(err),
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

/** Servers whose protocol drains; read by the writeHead hook below. */
const drainingServers = new WeakSet<net.Server>();
/** The hot path's first test: no server drains in almost every request's life. */
let anyDraining = false;
let hookInstalled = false;

/**
 * Every head written while the worker drains says `Connection: close`, including responses that
 * were already in flight when the drain began. The hook sits on ServerResponse.prototype itself
 * because frameworks replace a response's prototype (Express does), which would bypass a
 * subclass; node calls writeHead for implicit heads too. Measured alternatives: tracking every
 * response (a set entry and two listeners each) or an accessor on each instance (+40 % CPU per
 * request) cost far more than this one check.
 */
function installDrainHook(): void {
  if (hookInstalled) return;
  hookInstalled = true;
  const writeHead = http.ServerResponse.prototype.writeHead as (...args: unknown[]) => http.ServerResponse;
  http.ServerResponse.prototype.writeHead = function (this: http.ServerResponse, ...args: unknown[]) {
    if (anyDraining) {
      const server = (this.req?.socket as (net.Socket & { server?: net.Server }) | undefined)?.server;
      if (server !== undefined && drainingServers.has(server)) this.shouldKeepAlive = false;
    }
    return writeHead.apply(this, args);
  } as typeof http.ServerResponse.prototype.writeHead;
}

/** Loads the app module (if any) and opens the access log (if any) before any server exists. */
export const createHttpProtocol: ProtocolFactory = async (ctx) => {
  const { settings } = ctx;
  const app = settings.app !== null ? await loadApp(settings.app) : null;
  const accessLog =
    settings.accessLog !== null
      ? new AccessLog(settings.accessLog, settings.accessLogFormat, ctx.log, clientAddressResolver(settings.trustProxy))
      : null;
  return new HttpProtocol(ctx, app, accessLog);
};
