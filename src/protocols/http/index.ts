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
import { loadApp, type LoadedApp } from './app.js';
import { createBuiltinHandler, type BuiltinHandler } from './builtin.js';
import { closeServer, onClientError, serverOptions } from './server.js';

/** While draining, how often idle connections are swept (a backstop for the per-response one). */
const IDLE_SWEEP_MS = 100;

export class HttpProtocol implements Protocol {
  private readonly settings: Settings;
  private readonly log: Logger;
  private readonly servers: http.Server[] = [];
  /** Responses not yet closed, so that drain() can still turn them into `Connection: close`. */
  private readonly inflight = new Set<http.ServerResponse>();
  private readonly builtin: BuiltinHandler | null;
  private draining = false;
  private drained: Promise<void> | null = null;

  constructor(
    ctx: ProtocolContext,
    private readonly app: LoadedApp | null,
    private readonly accessLog: AccessLog | null,
  ) {
    this.settings = ctx.settings;
    this.log = ctx.log;
    this.builtin =
      app === null
        ? createBuiltinHandler({ maxBody: ctx.settings.maxBody, isDraining: () => this.draining })
        : null;
  }

  createServer(): net.Server {
    const server = http.createServer(serverOptions(this.settings));
    // Registering 'checkContinue' turns off node's automatic "100 Continue", so the built-in
    // POST /reverse can refuse an oversized declared body (413) before the client uploads it.
    server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => this.onRequest(req, res, true));
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.onRequest(req, res, false));
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
    for (const res of this.inflight) {
      if (!res.headersSent) res.shouldKeepAlive = false;
    }
    const sweep = setInterval(() => this.closeIdle(), IDLE_SWEEP_MS);
    sweep.unref();
    this.drained = Promise.all(this.servers.map(closeServer)).then(() => clearInterval(sweep));
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

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse, expectContinue: boolean): void {
    this.inflight.add(res);
    res.once('close', () => this.inflight.delete(res));
    // keep-alive-timeout 0 means no keep-alive at all (to node, 0 means "idle forever").
    // While draining, node then sends `Connection: close` and closes after the response.
    if (this.draining || this.settings.keepAliveTimeout === 0) res.shouldKeepAlive = false;
    res.once('finish', () => {
      // A response whose head went out before the drain still said keep-alive (or the app forced
      // it): close its connection as soon as node marks it idle, rather than at the next sweep.
      if (this.draining) setImmediate(() => this.closeIdle());
    });
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

  private closeIdle(): void {
    for (const server of this.servers) server.closeIdleConnections();
  }
}

/** Loads the app module (if any) and opens the access log (if any) before any server exists. */
export const createHttpProtocol: ProtocolFactory = async (ctx) => {
  const { settings } = ctx;
  const app = settings.app !== null ? await loadApp(settings.app) : null;
  const accessLog =
    settings.accessLog !== null ? new AccessLog(settings.accessLog, settings.accessLogFormat, ctx.log) : null;
  return new HttpProtocol(ctx, app, accessLog);
};
