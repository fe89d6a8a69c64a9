// The guards RAAS puts in front of every node:http server it creates (built-in endpoints and
// `--app` request listeners), for hostile or broken clients that node lets through:
// - body-timeout: a request body that stalls (no byte for body-timeout) gets 408 and a close;
// - max-header-size applies to the whole head (request line and every header line with its
//   separators): node counts only the bytes of names and values, so a head of many small
//   headers could be 2.5 times the limit; over it: 431 and a close;
// - the server of record where node is lenient: 400 for a duplicate Host (a missing one on
//   HTTP/1.1 is node's requireHostHeader, set in server.ts), 505 for an HTTP version other than
//   1.0 and 1.1 that llhttp lets through (2.0, 0.9; it refuses 1.2 itself, see statusFor);
// - CONNECT: node emits 'connect' and, without a listener, drops the socket unanswered. Here the
//   built-in endpoints answer 405 with Allow; an `--app` module that exports `connect(req,
//   socket, head)` gets the tunnel, any other app answers 405.
// Installed by one call, guardServer(), when the server is created; the request-level checks
// run before node emits 'request' or 'checkContinue', so no handler ever sees a refused request.
// Every refusal is a `client-error`, rate-limited with node's own (server.ts noteClientError).
// Runs in: workers.

import type * as http from 'node:http';
import type * as net from 'node:net';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Settings } from '../../config/settings.js';
import { LOG, type Logger } from '../../log.js';
import { nodeHttp } from '../../node-http.js';
import { BODY_TIMEOUT, LINGER_MS, noteClientError, onClientError } from './server.js';
import { errorWithStack } from '../../errors.js';

export interface GuardOptions {
  settings: Settings;
  log: Logger;
}

/** Wires the guards into `server`. Call once, right after http.createServer(). */
export function guardServer(server: http.Server, options: GuardOptions): void {
  const { settings, log } = options;
  const bodyMs = Math.max(1, Math.round(settings.bodyTimeout * 1000));
  const stalled = (socket: net.Socket): void => {
    const err: NodeJS.ErrnoException = new Error(`request body stalled for ${settings.bodyTimeout}s (body-timeout)`);
    err.code = BODY_TIMEOUT;
    onClientError(err, socket, log);
  };

  // Every header must reach rawHeaders for the head to be measured (node keeps 2000 by default
  // and drops the rest silently); node's own maxHeaderSize still bounds how many there can be.
  server.maxHeadersCount = 0;
  const maxHead = settings.maxHeaderSize;
  server.on('connect', connectHandler(settings, log));

  // Wrapping emit (one check per event) keeps every guard in this file: a refused request is
  // never emitted, so neither the built-in handler, the app nor the access log sees it.
  const emit = server.emit;
  server.emit = function (this: http.Server, event: string | symbol, req?: unknown, res?: unknown): boolean {
    if (event === 'request' || event === 'checkContinue') {
      const request = req as http.IncomingMessage;
      const refusal = refusalOf(request, maxHead);
      if (refusal !== null) {
        refuse(request, res as http.ServerResponse, refusal, log);
        return true;
      }
      if (hasBody(request)) watchBody(request, bodyMs, stalled);
    }
    // eslint-disable-next-line prefer-rest-params
    return emit.apply(this, arguments as unknown as Parameters<typeof emit>);
  } as typeof server.emit;
}

interface Refusal {
  status: number;
  /** Logged as the client error's code. */
  code: string;
  message: string;
}

const HEAD_TOO_LARGE: Refusal = { status: 431, code: 'HEAD_TOO_LARGE', message: 'request head too large\n' };
const DUPLICATE_HOST: Refusal = { status: 400, code: 'DUPLICATE_HOST', message: 'more than one Host header\n' };
const BAD_VERSION: Refusal = { status: 505, code: 'HTTP_VERSION', message: 'HTTP version not supported (HTTP/1.0 and HTTP/1.1 are)\n' };

/** Why `req` must not reach a handler, or null. One pass over the raw headers. */
export function refusalOf(req: http.IncomingMessage, maxHead: number): Refusal | null {
  if (req.httpVersionMajor !== 1 || req.httpVersionMinor > 1) return BAD_VERSION;
  const raw = req.rawHeaders;
  let hosts = 0;
  // Request line: METHOD SP target SP HTTP/x.y CRLF; final CRLF. Header names, values and the
  // request target are latin1 strings, so length is bytes. Each header line counts at least its
  // ":" and CRLF (spaces around the value are optional): never more than the client sent.
  let head = (req.method?.length ?? 0) + (req.url?.length ?? 0) + 12 + 2;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    head += name.length + (raw[i + 1] as string).length + 3;
    // The common spellings first: no string allocated per request for the usual "Host".
    if (name.length === 4 && (name === 'Host' || name === 'host' || name.toLowerCase() === 'host')) hosts++;
  }
  if (head > maxHead) return HEAD_TOO_LARGE;
  // RFC 9112 3.2: more than one Host field line is a 400 (node keeps the first and drops the rest).
  if (hosts > 1) return DUPLICATE_HOST;
  return null;
}

/** Answers a refused request and closes the connection. */
function refuse(req: http.IncomingMessage, res: http.ServerResponse, refusal: Refusal, log: Logger): void {
  noteClientError(log, refusal.status, { code: refusal.code, remote: req.socket.remoteAddress });
  res.shouldKeepAlive = false;
  res.writeHead(refusal.status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(refusal.message),
    Connection: 'close',
  });
  res.end(req.method === 'HEAD' ? undefined : refusal.message);
}

/** Whether a body follows the head (the GET hot path pays two header lookups). */
function hasBody(req: http.IncomingMessage): boolean {
  const headers = req.headers;
  if (headers['transfer-encoding'] !== undefined) return true;
  const length = headers['content-length'];
  return length !== undefined && length !== '0';
}

/**
 * Calls `stalled` when the client sends no byte of the body for `bodyMs` (checked four times per
 * period). node reads the socket in C++ (no 'data' events), so progress is the socket's
 * bytesRead. When the handler does not read (its stream buffer is full, or it paused the
 * request), the silence is the server's, not the client's: the clock restarts.
 */
export function watchBody(req: http.IncomingMessage, bodyMs: number, stalled: (socket: net.Socket) => void): void {
  const socket = req.socket;
  let seen = socket.bytesRead;
  let quietSince = Date.now();
  const timer = setInterval(() => {
    if (req.complete || socket.destroyed) {
      clearInterval(timer);
      return;
    }
    const read = socket.bytesRead;
    const now = Date.now();
    if (read !== seen || req.isPaused() || req.readableLength >= req.readableHighWaterMark) {
      seen = read;
      quietSince = now;
    } else if (now - quietSince >= bodyMs) {
      clearInterval(timer);
      stalled(socket);
    }
  }, Math.max(5, Math.min(1000, Math.floor(bodyMs / 4))));
  timer.unref();
}

type ConnectListener = (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => unknown;

/** What the built-in endpoints allow (a CONNECT target is no path of theirs). */
const BUILTIN_ALLOW = 'GET, HEAD, POST';

/**
 * The 'connect' listener: the guards, then the app's `connect` export or a 405. node hands over
 * the bare socket (its parser and error listener removed), so an error listener comes first.
 */
function connectHandler(settings: Settings, log: Logger): ConnectListener {
  let appConnect: Promise<ConnectListener | null> | null = null;
  const allow = settings.app === null ? BUILTIN_ALLOW : '';
  return (req, socket, head) => {
    socket.on('error', (err: NodeJS.ErrnoException) => log.debug(LOG.CLIENT_ERROR, { code: err.code ?? err.message }));
    const refusal = refusalOf(req, settings.maxHeaderSize);
    if (refusal !== null) return refuseRaw(req, socket, refusal.status, refusal.code, refusal.message, {}, log);
    const notAllowed = (): void =>
      refuseRaw(req, socket, 405, 'CONNECT', 'method not allowed\n', { Allow: allow }, log);
    if (settings.app === null) return notAllowed();
    // import() of the app's URL is the module the protocol already loaded (same URL, cached).
    appConnect ??= import(pathToFileURL(path.resolve(settings.app)).href).then(
      (mod: Record<string, unknown>) => (typeof mod.connect === 'function' ? (mod.connect as ConnectListener) : null),
      () => null,
    );
    void appConnect.then((handler) => {
      if (socket.destroyed) return;
      if (handler === null) return notAllowed();
      const failed = (err: unknown): void => {
        log.error(LOG.HANDLER_ERROR, { method: 'CONNECT', url: req.url, error: errorWithStack(err) });
        socket.destroy();
      };
      try {
        const result = handler(req, socket, head);
        if (typeof (result as PromiseLike<unknown> | null)?.then === 'function') (result as PromiseLike<unknown>).then(undefined, failed);
      } catch (err) {
        failed(err);
      }
    });
  };
}

/** A complete response written straight to a socket node no longer parses, then a lingering close. */
function refuseRaw(
  req: http.IncomingMessage,
  socket: net.Socket,
  status: number,
  code: string,
  body: string,
  headers: Record<string, string>,
  log: Logger,
): void {
  noteClientError(log, status, { code, method: req.method, remote: socket.remoteAddress });
  let head = `HTTP/1.1 ${status} ${nodeHttp.STATUS_CODES[status]}\r\n`;
  for (const name in headers) head += `${name}: ${headers[name]}\r\n`;
  head += `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`;
  socket.end(head + body);
  // Reading on (and discarding) lets our answer arrive before the close instead of a reset.
  socket.resume();
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}
