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
import { closeServer, onClientError, serverOptions } from './server.js';

/** While draining, a keep-alive connection idle this long (no byte, no response) is closed. */
const IDLE_SWEEP_MS = 250;

export class HttpProtocol implements Protocol {
  private readonly settings: Settings;
  private readonly log: Logger;
  private readonly servers: http.Server[] = [];
  /** node:http builds every response from this class: see responseClass(). */
  private readonly Response: typeof http.ServerResponse;
  private readonly builtin: BuiltinHandler | null;
  private draining = false;
  private readonly idle = new IdleCloser();
  private drained: Promise<void> | null = null;

  constructor(
    ctx: ProtocolContext,
    private readonly app: LoadedApp | null,
    private readonly accessLog: AccessLog | null,
  ) {
    this.settings = ctx.settings;
    this.log = ctx.log;
    this.Response = responseClass(this);
    this.builtin =
      app === null
        ? createBuiltinHandler({ maxBody: ctx.settings.maxBody, isDraining: () => this.draining })
        : null;
  }

  createServer(): net.Server {
    const server = http.createServer({ ...serverOptions(this.settings), ServerResponse: this.Response });
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

  /** Whether a response whose head is written now may keep its connection open. */
  keepAliveAllowed(): boolean {
    // keep-alive-timeout 0 means no keep-alive at all (to node, 0 means "idle forever").
    return !this.draining && this.settings.keepAliveTimeout !== 0;
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse, expectContinue: boolean): void {
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

const kKeepAlive = Symbol('raas.keepAlive');
type KeepAliveField = http.ServerResponse & { [kKeepAlive]?: boolean };

/**
 * The response class for one protocol: every head written while the worker drains says
 * `Connection: close`, including responses that were already in flight when the drain began.
 * node reads `shouldKeepAlive` when it writes the head, so an accessor on the instance decides
 * there; being an own property, it survives frameworks that swap the prototype (Express does).
 * One shared descriptor: no closure per response.
 */
function responseClass(protocol: HttpProtocol): typeof http.ServerResponse {
  const shouldKeepAlive: PropertyDescriptor = {
    get(this: KeepAliveField) {
      return this[kKeepAlive] === true && protocol.keepAliveAllowed();
    },
    set(this: KeepAliveField, value: boolean) {
      this[kKeepAlive] = value;
    },
    configurable: true,
    enumerable: true,
  };
  class RaasResponse extends http.ServerResponse {
    constructor(req: http.IncomingMessage) {
      super(req);
      Object.defineProperty(this, 'shouldKeepAlive', shouldKeepAlive);
    }
  }
  return RaasResponse as unknown as typeof http.ServerResponse;
}

/** Loads the app module (if any) and opens the access log (if any) before any server exists. */
export const createHttpProtocol: ProtocolFactory = async (ctx) => {
  const { settings } = ctx;
  const app = settings.app !== null ? await loadApp(settings.app) : null;
  const accessLog =
    settings.accessLog !== null ? new AccessLog(settings.accessLog, settings.accessLogFormat, ctx.log) : null;
  return new HttpProtocol(ctx, app, accessLog);
};
