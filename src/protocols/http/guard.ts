// The guards RAAS puts in front of every node:http server it creates (built-in endpoints and
// `--app` request listeners), for hostile or broken clients that node lets through:
// - body-timeout: a request body that stalls (no byte for body-timeout) gets 408 and a close;
// - max-header-size applies to the whole head (request line and every header line with its
//   separators): node counts only the bytes of names and values, so a head of many small
//   headers could be 2.5 times the limit; over it: 431 and a close.
// Installed by one call, guardServer(), when the server is created; the request-level checks
// run before node emits 'request' or 'checkContinue', so no handler ever sees a refused request.
// Runs in: workers.

import type * as http from 'node:http';
import type * as net from 'node:net';
import type { Settings } from '../../config/settings.js';
import { LOG, type Logger } from '../../log.js';
import { BODY_TIMEOUT, onClientError } from './server.js';

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

/** Why `req` must not reach a handler, or null. One pass over the raw headers. */
export function refusalOf(req: http.IncomingMessage, maxHead: number): Refusal | null {
  const raw = req.rawHeaders;
  // Request line: METHOD SP target SP HTTP/x.y CRLF; final CRLF. Header names, values and the
  // request target are latin1 strings, so length is bytes. Each header line counts at least its
  // ":" and CRLF (spaces around the value are optional): never more than the client sent.
  let head = (req.method?.length ?? 0) + (req.url?.length ?? 0) + 12 + 2;
  for (let i = 0; i < raw.length; i += 2) head += (raw[i] as string).length + (raw[i + 1] as string).length + 3;
  if (head > maxHead) return HEAD_TOO_LARGE;
  return null;
}

/** Answers a refused request and closes the connection. */
function refuse(req: http.IncomingMessage, res: http.ServerResponse, refusal: Refusal, log: Logger): void {
  log.info(LOG.CLIENT_ERROR, { code: refusal.code, status: refusal.status, remote: req.socket.remoteAddress });
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
