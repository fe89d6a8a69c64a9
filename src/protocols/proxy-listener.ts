// The PROXY protocol gate of a `line+proxy://` or `http+proxy://` listener: every accepted
// connection must come from a `proxy-from` peer and start with a valid v1 or v2 header, which is
// read and removed here; only then does the line or HTTP protocol get the connection, seeing the
// client the header names as its peer (remoteAddress, remotePort, remoteFamily).
// Runs in: workers. Plain listeners never pass through here and pay nothing.
//
// The gate sits on the protocol's own server (it takes over its 'connection' listeners), not on a
// second server in front: the socket keeps `socket.server` and the server's connection count, so
// drains, the HTTP `Connection: close` hook and server.close() treat it like any other.
//
// Refusals are logged rate-limited (event-counter.ts): any peer can cause one (a peer outside
// proxy-from included), so one line per connection would let anyone flood the log. Peers outside
// proxy-from and bad headers from trusted peers are counted apart, so a flood of the first never
// hides the second (a balancer that lost its PROXY setting).

import type * as net from 'node:net';
import { cidrMatcher } from '../config/cidr.js';
import { LOG, type Logger } from '../log.js';
import { EventCounter } from './event-counter.js';
import { ProxyHeaderReader, type ProxyHeader, type ProxyReadResult } from './proxy-header.js';

/**
 * How long a new connection may take to deliver its header. A balancer writes it together with
 * the connect, so this only bounds connections that are not from a balancer speaking PROXY.
 */
export const PROXY_HEADER_TIMEOUT_MS = 5000;

/** The parsed header, on every socket that passed the gate (for apps that want TLVs or the destination). */
export const PROXY_HEADER = Symbol.for('raas.proxyHeader');

export interface ProxyGateOptions {
  /** The listener's address, for logs. */
  listener: string;
  /** The `proxy-from` setting: peers allowed to send a header. */
  proxyFrom: readonly string[];
  log: Logger;
  timeoutMs?: number;
}

type Handler = (this: net.Server, socket: net.Socket) => void;

/**
 * Puts the gate in front of every 'connection' listener `server` has now. Call it once the
 * protocol has created the server and before it listens.
 */
export function requireProxyHeader(server: net.Server, options: ProxyGateOptions): void {
  const handlers = server.listeners('connection') as Handler[];
  server.removeAllListeners('connection');
  const trusted = cidrMatcher(options.proxyFrom);
  const timeoutMs = options.timeoutMs ?? PROXY_HEADER_TIMEOUT_MS;
  const handOver = (socket: net.Socket): void => {
    for (const handler of handlers) handler.call(server, socket);
  };
  const refused: Refusals = {
    untrusted: new EventCounter(options.log, 'warn', LOG.PROXY_REFUSED, { listen: options.listener }).flushAtExit(),
    invalid: new EventCounter(options.log, 'warn', LOG.PROXY_REFUSED, { listen: options.listener }).flushAtExit(),
  };
  server.on('connection', (socket: net.Socket) => gate(socket, trusted, timeoutMs, options, refused, handOver));
}

interface Refusals {
  /** Peers outside proxy-from. */
  untrusted: EventCounter;
  /** Trusted peers whose header was missing, late or malformed. */
  invalid: EventCounter;
}

function gate(
  socket: net.Socket,
  trusted: (address: string | undefined) => boolean,
  timeoutMs: number,
  options: ProxyGateOptions,
  refused: Refusals,
  handOver: (socket: net.Socket) => void,
): void {
  const { log, listener } = options;
  // A unix-socket peer has no address; who may connect is the socket file's mode.
  const peer = socket.remoteAddress;
  if (peer !== undefined && !trusted(peer)) {
    refused.untrusted.note(1, { peer, reason: 'peer not in proxy-from' });
    socket.destroy();
    return;
  }
  const reader = new ProxyHeaderReader();
  const settle = (result: ProxyReadResult): void => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('error', onError);
    if (result.kind === 'invalid') {
      refused.invalid.note(1, { peer: peer ?? 'unix', reason: result.reason });
      socket.destroy();
      return;
    }
    // Whatever followed the header in the same chunk is the protocol's first bytes: put it back
    // in the stream while it is paused, so the protocol's own 'data' listener reads it first.
    socket.pause();
    if (result.rest.length > 0) socket.unshift(result.rest);
    adoptClient(socket, result.header);
    log.debug(LOG.PROXY_HEADER, {
      listen: listener,
      client: socket.remoteAddress ?? 'unix',
      client_port: socket.remotePort,
      proxy: peer ?? 'unix',
      version: result.header.version,
      command: result.header.command,
    });
    handOver(socket);
    socket.resume();
  };
  const onData = (chunk: Buffer): void => {
    const result = reader.push(chunk);
    if (result !== null) settle(result);
  };
  const onEnd = (): void => {
    const result = reader.end();
    if (result !== null) settle(result);
  };
  // Node destroys the socket after 'error'; there is nothing to answer.
  const onError = (err: NodeJS.ErrnoException): void => {
    clearTimeout(timer);
    log.debug(LOG.CLIENT_ERROR, { listen: listener, during: 'proxy-header', code: err.code ?? err.message });
  };
  const timer = setTimeout(() => settle({ kind: 'invalid', reason: `no complete header within ${timeoutMs} ms` }), timeoutMs);
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('error', onError);
}

/**
 * The header's client becomes the socket's peer: own properties shadow net.Socket's getters, so
 * node:http, Express's req.ip, the access log and every log read the client, on this socket only.
 * LOCAL (a balancer's health check) and UNKNOWN/unspec headers leave the real peer in place.
 */
function adoptClient(socket: net.Socket, header: ProxyHeader): void {
  Object.defineProperty(socket, PROXY_HEADER, { value: header, configurable: true });
  if (header.command !== 'proxy' || header.source === null) return;
  if (header.family !== 'tcp4' && header.family !== 'tcp6') return;
  Object.defineProperties(socket, {
    remoteAddress: { value: header.source.address, configurable: true, enumerable: true },
    remotePort: { value: header.source.port, configurable: true, enumerable: true },
    remoteFamily: { value: header.family === 'tcp4' ? 'IPv4' : 'IPv6', configurable: true, enumerable: true },
  });
}
