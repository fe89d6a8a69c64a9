// Builds one node:http server for a listener: limits and timeouts from the settings, and the
// answer to requests llhttp refuses (431, 408, 400, 505) before any handler sees them.
// Runs in: workers.
//
// Client errors are logged rate-limited (noteClientError(): counters per worker's logger and
// status, shared with guard.ts's refusals): any client can cause one per connection, so one line each would let
// anyone flood the log.

import type * as http from 'node:http';
import * as net from 'node:net';
import { LOG, type Fields, type Logger } from '../../log.js';
import { EventCounter } from '../event-counter.js';
import { nodeHttp } from '../../node-http.js';
import type { Settings } from '../../config/settings.js';

/**
 * HTTP's own linger (the line protocol's is LINGER_MS of ../line-contract.ts): how long a refused
 * client may keep sending before we drop it (onClientError here, guard.ts's refuseRaw).
 */
export const LINGER_MS = 1000;

export function serverOptions(settings: Settings): http.ServerOptions {
  const headersTimeout = Math.max(1, Math.round(settings.headersTimeout * 1000));
  return {
    maxHeaderSize: settings.maxHeaderSize,
    headersTimeout,
    // The whole request, body included (node's default is 5 min); the settings check that it is
    // not below headersTimeout (node would throw). Enforced by the same timer as headersTimeout.
    requestTimeout: Math.max(headersTimeout, Math.round(settings.requestTimeout * 1000)),
    // RFC 9112: an HTTP/1.1 request without Host is a 400 (node's default since 20, said here).
    requireHostHeader: true,
    // 0 would mean "never time out" to node; for RAAS it means "no keep-alive" (protocol.ts).
    keepAliveTimeout: Math.round(settings.keepAliveTimeout * 1000),
    // Node enforces headersTimeout only when this timer fires (default every 30 s, so a
    // slowloris would get up to 30 s more): check at least twice per headersTimeout.
    connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(headersTimeout / 2))),
  };
}

/** The code of the error guard.ts reports when a request body stalls for body-timeout. */
export const BODY_TIMEOUT = 'RAAS_BODY_TIMEOUT';

/**
 * A well-formed request line with a version other than 1.0 and 1.1 (llhttp refuses HTTP/1.2 and
 * HTTP/3.1; guard.ts answers 2.0 and 0.9, which it lets through). Only the bytes llhttp was
 * parsing are known: a request line cut across reads is taken as malformed (400).
 */
const UNSUPPORTED_VERSION_LINE = /(?:^|\n)[!-~]+ [!-~]+ HTTP\/(?!1\.[01]\r)[0-9]\.[0-9]\r\n/;

/**
 * The status answering a client error, or null when there is nobody to answer (a reset).
 * `rawPacket`: the bytes llhttp was parsing, when it tells 505 (a version we do not speak) from
 * 400 (no version at all, "HTTP/9.9.9").
 */
export function statusFor(code: string, rawPacket?: Buffer): number | null {
  switch (code) {
    case 'HPE_INVALID_VERSION':
      return rawPacket !== undefined && UNSUPPORTED_VERSION_LINE.test(rawPacket.toString('latin1')) ? 505 : 400;
    case 'HPE_HEADER_OVERFLOW':
      return 431;
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return 413;
    case 'ERR_HTTP_REQUEST_TIMEOUT': // headersTimeout or requestTimeout expired
      return 408;
    case BODY_TIMEOUT: // body-timeout: the body stalled (guard.ts)
      return 408;
    default:
      return code.startsWith('HPE_') ? 400 : null;
  }
}

/** Per worker's logger, one counter per status: a flood of 400s never hides a 431 or a 408. */
const counters = new WeakMap<Logger, Map<number, EventCounter>>();

/**
 * Notes one client error answered with `status`: at most one `client-error` line per status per
 * 10 s (the first at once), with the count since the last one and the total.
 */
export function noteClientError(log: Logger, status: number, details: Fields): void {
  let byStatus = counters.get(log);
  if (byStatus === undefined) {
    byStatus = new Map();
    counters.set(log, byStatus);
  }
  let counter = byStatus.get(status);
  if (counter === undefined) {
    // A status is a small fixed set (400, 405, 408, 413, 431, 505): a bounded number of counters.
    counter = new EventCounter(log, 'info', LOG.CLIENT_ERROR, { status }).flushAtExit();
    byStatus.set(status, counter);
  }
  counter.note(1, details);
}

// llhttp stays failed after an error, so every later chunk from the same client reports it again.
const answered = new WeakSet<net.Socket>();

/**
 * node:http's 'clientError': answer once, then close. Instead of node's write-then-destroy we
 * end() and keep reading for a moment: destroying a socket with unread input makes the kernel
 * send RST, and a client still uploading (an oversized head, say) would lose our 431.
 */
export function onClientError(err: NodeJS.ErrnoException, socket: net.Socket, log: Logger): void {
  if (answered.has(socket)) return;
  answered.add(socket);
  const code = err.code ?? 'UNKNOWN';
  const status = statusFor(code, (err as { rawPacket?: Buffer }).rawPacket);
  if (status === null) {
    log.debug(LOG.CLIENT_ERROR, { code, remote: socket.remoteAddress });
    socket.destroy();
    return;
  }
  noteClientError(log, status, { code, remote: socket.remoteAddress });
  // Like node: never write into the middle of a response already on the wire.
  const inFlight = (socket as net.Socket & { _httpMessage?: http.ServerResponse | null })._httpMessage;
  if (!socket.writable || (inFlight != null && inFlight.headersSent)) {
    socket.destroy();
    return;
  }
  socket.end(
    `HTTP/1.1 ${status} ${nodeHttp.STATUS_CODES[status]}\r\n` +
      'Connection: close\r\nContent-Length: 0\r\n\r\n',
  );
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}

/**
 * Stops accepting and resolves once every connection of `server` is gone; also for a server
 * that never listened (net emits 'close' as soon as it has no handle and no connection).
 *
 * Why net.Server#close and not http.Server#close: on Node 20 the latter also stops the timer
 * that enforces headersTimeout, so one slowloris client would hold the whole drain until the
 * master's deadline. http.Server#close's other step, closing idle keep-alive connections, the
 * protocol does itself, at a safer moment (the idle sweep, idle-closer.ts).
 */
export function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    server.once('close', () => {
      stopConnectionsCheck(server);
      resolve();
    });
    net.Server.prototype.close.call(server);
  });
}

// Best effort: node keeps that (unref'd) timer in a symbol-keyed property.
function stopConnectionsCheck(server: net.Server): void {
  for (const sym of Object.getOwnPropertySymbols(server)) {
    if (sym.description === 'http.server.connectionsCheckingInterval') {
      clearInterval((server as unknown as Record<symbol, NodeJS.Timeout>)[sym]);
    }
  }
}
