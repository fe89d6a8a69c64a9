// The RAAS line protocol: a client connects and sends one line; the reply is that line reversed
// (by grapheme cluster) followed by "\n", then the server closes the connection.
// Runs in: workers.
//
// This is the benchmarked hot path. Handlers are created once per protocol and shared by every
// socket (`this` is the socket); per-connection state is one property: the accept time until the
// first byte, a Pending record only when the line spans several chunks, null once answered.
//
// Hostile clients are bounded: idle-timeout (silence), line-timeout (accept to whole line: a
// client trickling one byte per idle period), max-line (size of one line) and line-buffer-limit
// (bytes of all unfinished lines of the worker together: many clients each holding a big partial
// line).
//
// Lame duck (`lame-duck S`, before a graceful stop): every connection is still served, except a
// balancer's own health check on a +proxy listener (a PROXY v2 header with the LOCAL command),
// which gets "ERR draining" instead of its reversed line. haproxy's tcp-check on the line port
// then fails from the worker's first lame instant, and the balancer takes the instance out of
// rotation while it still accepts, as /healthz 503 does for HTTP (examples/haproxy.cfg).

import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { LOG } from '../log.js';
import { NO_STATS, type Protocol, type ProtocolContext, type ServerOptions } from './types.js';
import { LineReader, type LineResult } from './line-reader.js';
import { reverseUtf8 } from './reverse.js';
import { EventCounter } from './event-counter.js';
import { LINGER_MS, REPLIES } from './line-contract.js';
import { loadLineFast, NativeLineServer } from './line-native.js';
import { PROXY_HEADER } from './proxy-listener.js';
import type { ProxyHeader } from './proxy-header.js';

// The replies and LINGER_MS are the contract shared with the native path (line-contract.ts).
const ERR_TOO_LONG = Buffer.from(REPLIES.ERR_TOO_LONG);
const ERR_INVALID_UTF8 = Buffer.from(REPLIES.ERR_INVALID_UTF8);
const ERR_LINE_TIMEOUT = Buffer.from(REPLIES.ERR_LINE_TIMEOUT);
const ERR_SERVER_BUSY = Buffer.from(REPLIES.ERR_SERVER_BUSY);
const ERR_DRAINING = Buffer.from(REPLIES.ERR_DRAINING);
const EMPTY_LINE: LineResult = Object.freeze({ kind: 'line', bytes: Buffer.alloc(0) });

/** How often the native path's line-timeout and server-busy counts are read for the log lines. */
const NATIVE_LOG_POLL_MS = 1000;

/** A line that spans chunks: its reader, when the connection was accepted, its deadline timer. */
class Pending {
  timer: NodeJS.Timeout | null = null;
  /** This line's share of the worker's buffered bytes. */
  buffered = 0;
  constructor(
    readonly reader: LineReader,
    readonly acceptedAt: number,
  ) {}
}

const kState = Symbol('raas.line');
/** On each server: the listener index its connections are counted under (ctx.stats). */
const kListener = Symbol('raas.lineListener');
/** number: accepted at (performance.now()), no byte yet; Pending: line spans chunks; null: answered. */
type LineSocket = net.Socket & { [kState]?: number | Pending | null; server: net.Server & { [kListener]: number } };

function destroySocket(socket: net.Socket): void {
  socket.destroy();
}

function onFinish(this: net.Socket): void {
  this.destroy();
}

function send(socket: net.Socket, reply: Buffer): void {
  socket.write(reply);
  // Measured on Node 20: write + destroy costs less CPU than end(reply) (no shutdown(2), no wait
  // for the client's FIN). When the write completed synchronously the bytes are in the kernel,
  // and close(2) still delivers them, then FIN.
  if (socket.writableLength === 0) socket.destroy();
  else {
    socket.on('finish', onFinish);
    socket.end();
  }
}

/** The reply to a line reader's result (pure: the property tests check it against a model). */
export function replyFor(result: LineResult): Buffer {
  if (result.kind === 'too-long') return ERR_TOO_LONG;
  return reverseUtf8(result.bytes, true) ?? ERR_INVALID_UTF8;
}

/** Half-closes with `reply` and keeps draining the client's input; autoDestroy closes once it half-closes too. */
function refuse(socket: net.Socket, reply: Buffer): void {
  socket.end(reply);
  setTimeout(destroySocket, LINGER_MS, socket).unref();
}

export interface LineProtocol extends Protocol {
  /** Bytes held in unfinished lines of the JavaScript path right now (its line-buffer-limit account), for tests. */
  bufferedBytes(): number;
}

export function createLineProtocol({ settings, log, stats = NO_STATS }: ProtocolContext): LineProtocol {
  const maxLine = settings.maxLine;
  const idleMs = Math.max(1, Math.round(settings.idleTimeout * 1000));
  const lineMs = Math.max(1, Math.round(settings.lineTimeout * 1000));
  // Before the first byte only one timer runs: the socket's own idle timer, at whichever of the
  // two limits comes first.
  const firstTimeoutMs = Math.min(idleMs, lineMs);
  const servers = new Set<net.Server>();
  /** Lame duck: balancers' health checks (PROXY LOCAL) are refused, every client still served. */
  let lame = false;
  // The native path (line-native.ts) serves plain listeners when the addon is there (serveFd);
  // PROXY protocol listeners always take this file's path (createServer). Its stats: per listener,
  // native.counters(index) (kept in C, latency histogram included), read once a beat through
  // stats.external, nothing per request. Its line-buffer-limit account is its own (in C): a worker
  // serving native and +proxy line listeners holds up to the limit on each path.
  const addon = loadLineFast();
  const native = addon ? new NativeLineServer(addon, settings, log) : null;
  /** The native path's timeouts and refusals, counted in C, enter the rate-limited log lines here. */
  let nativeNoted = { timeouts: 0, busy: 0 };
  let nativePoll: NodeJS.Timeout | null = null;
  function noteNative(): void {
    if (!native) return;
    const { timeouts: t, busy: b } = native.counters();
    timeouts.note(t - nativeNoted.timeouts);
    busy.note(b - nativeNoted.busy);
    nativeNoted = { timeouts: t, busy: b };
  }

  const bufferLimit = settings.lineBufferLimit;
  /** Bytes held by every Pending line of this worker (one line protocol per worker). */
  let buffered = 0;
  const timeouts = new EventCounter(log, 'info', LOG.LINE_TIMEOUTS, { protocol: 'line', limit_s: settings.lineTimeout });
  const busy = new EventCounter(log, 'warn', LOG.LINE_BUFFER_FULL, { protocol: 'line', limit: bufferLimit });

  /** Counts an answer (ERR replies are errors) with its latency from accept. */
  function counted(socket: LineSocket, acceptedAt: number, error: boolean): void {
    stats.answered(socket.server[kListener], (performance.now() - acceptedAt) / 1000, error);
  }

  /** A connection that leaves unanswered (reset, idle close, handler error) counts once. */
  function abandon(socket: LineSocket): void {
    const state = socket[kState];
    if (state === null || state === undefined) return;
    if (state instanceof Pending) settle(socket, state);
    else socket[kState] = null;
    stats.abandoned(socket.server[kListener]);
  }

  /**
   * Leaves the Pending state: stops its deadline and gives its bytes back to the worker's
   * account. Every path out of Pending (answer, error, timeout, reset, close) goes through here.
   */
  function settle(socket: LineSocket, pending: Pending): void {
    socket[kState] = null;
    if (pending.timer !== null) clearTimeout(pending.timer);
    pending.timer = null;
    buffered -= pending.buffered;
    pending.buffered = 0;
  }

  /** Charges the line's growth to the worker; false (and the client refused) when over the cap. */
  function charge(socket: LineSocket, pending: Pending): boolean {
    const now = pending.reader.buffered;
    buffered += now - pending.buffered;
    pending.buffered = now;
    if (buffered <= bufferLimit) return true;
    settle(socket, pending);
    busy.note();
    refuse(socket, ERR_SERVER_BUSY);
    counted(socket, pending.acceptedAt, true);
    return false;
  }

  function answer(socket: LineSocket, result: LineResult, acceptedAt: number): void {
    socket[kState] = null;
    const reply = replyFor(result);
    if (reply === ERR_TOO_LONG) refuse(socket, reply);
    else send(socket, reply);
    counted(socket, acceptedAt, reply === ERR_TOO_LONG || reply === ERR_INVALID_UTF8);
  }

  function lineTimedOut(socket: LineSocket): void {
    const state = socket[kState];
    if (state === null || state === undefined) return;
    const acceptedAt = typeof state === 'number' ? state : state.acceptedAt;
    if (state instanceof Pending) settle(socket, state);
    else socket[kState] = null;
    timeouts.note();
    // The trickler may still be sending: linger so that our reply is not lost to a reset.
    refuse(socket, ERR_LINE_TIMEOUT);
    counted(socket, acceptedAt, true);
  }

  function onLineDeadline(socket: LineSocket): void {
    try {
      lineTimedOut(socket);
    } catch (err) {
      failed(socket, err);
    }
  }

  // The socket's idle timer: silence for idle-timeout, or (before the first byte) line-timeout.
  function onTimeout(this: LineSocket): void {
    const state = this[kState];
    if (state === null || state === undefined) {
      this.destroy();
      return;
    }
    const acceptedAt = typeof state === 'number' ? state : state.acceptedAt;
    // Timers fire late, never early; the 1 ms covers rounding of lineMs.
    if (performance.now() - acceptedAt >= lineMs - 1) lineTimedOut(this);
    else {
      abandon(this);
      this.destroy();
    }
  }

  // A handler must never throw: an exception here would reach uncaughtException and the worker.
  function failed(socket: LineSocket, err: unknown): void {
    log.error(LOG.HANDLER_ERROR, { protocol: 'line', error: String(err) });
    abandon(socket);
    socket.destroy();
  }

  function onData(this: LineSocket, chunk: Buffer): void {
    try {
      const state = this[kState];
      if (state === null || state === undefined) return;
      if (typeof state === 'number') {
        // The first chunk: almost always the whole line (the hot path).
        const reader = new LineReader(maxLine);
        const result = reader.push(chunk);
        if (result !== null) return answer(this, result, state);
        const pending = new Pending(reader, state);
        this[kState] = pending;
        this.once('close', onPendingClose);
        if (!charge(this, pending)) return;
        pending.timer = setTimeout(onLineDeadline, Math.max(0, state + lineMs - performance.now()), this);
        return;
      }
      const result = state.reader.push(chunk);
      if (result === null) charge(this, state);
      else {
        settle(this, state);
        answer(this, result, state.acceptedAt);
      }
    } catch (err) {
      failed(this, err);
    }
  }

  // A line spanning chunks that never got its answer (reset, error, idle close, destroy).
  function onPendingClose(this: LineSocket): void {
    if (this[kState] instanceof Pending) abandon(this);
  }

  // The client half-closed (allowHalfOpen): a last line without "\n" is still answered.
  function onEnd(this: LineSocket): void {
    try {
      const state = this[kState];
      if (state === null || state === undefined) return;
      if (typeof state === 'number') return answer(this, EMPTY_LINE, state);
      settle(this, state);
      answer(this, state.reader.end(), state.acceptedAt);
    } catch (err) {
      failed(this, err);
    }
  }

  // Resets and broken pipes are the client's business; Node destroys the socket after 'error'.
  function onError(this: LineSocket, err: NodeJS.ErrnoException): void {
    log.debug(LOG.CLIENT_ERROR, { protocol: 'line', code: err.code ?? err.message });
    abandon(this);
  }

  /**
   * During lame duck, a +proxy listener's balancer health check (the PROXY gate has already read
   * its header: LOCAL means the balancer's own connection, not a relayed client) is answered
   * "ERR draining", lingering like every refusal so that the check reads it rather than a reset.
   */
  function refusedCheck(socket: LineSocket): boolean {
    if (!lame || (socket as net.Socket & { [PROXY_HEADER]?: ProxyHeader })[PROXY_HEADER]?.command !== 'local') return false;
    socket[kState] = null;
    socket.on('error', onError);
    refuse(socket, ERR_DRAINING);
    // Counted as answered, not as an error: it is the answer the check exists to get.
    counted(socket, performance.now(), false);
    return true;
  }

  function onConnection(socket: LineSocket): void {
    if (refusedCheck(socket)) return;
    socket[kState] = performance.now();
    socket.on('error', onError);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('timeout', onTimeout);
    socket.setTimeout(firstTimeoutMs);
  }

  const protocol: LineProtocol = {
    bufferedBytes: () => buffered,

    fastPath: native ? 'native' : 'js',

    serveFd(fd: number, backlog: number, { listener = 0, proxyHeader = false }: ServerOptions): boolean {
      // A +proxy listener's connections must pass the PROXY gate on net.Server's 'connection'.
      if (!native || proxyHeader) return false;
      const index = native.listen(fd, backlog);
      stats.external?.(listener, () => native.counters(index), native.budget ?? undefined);
      nativePoll ??= setInterval(noteNative, NATIVE_LOG_POLL_MS).unref();
      return true;
    },

    createServer({ listener = 0 }: ServerOptions = {}): net.Server {
      const server = net.createServer({ allowHalfOpen: true }, (socket: net.Socket) => {
        stats.accepted(listener);
        stats.started(listener);
        onConnection(socket as LineSocket);
      });
      (server as LineSocket['server'])[kListener] = listener;
      servers.add(server);
      return server;
    },

    // Never undone: a stop follows. The native path serves plain listeners only, which carry no
    // PROXY header and so no way to tell a check from a client: it has nothing to do here.
    lameDuck(): void {
      lame = true;
    },

    drain(): Promise<void> {
      const closing: Promise<void>[] = native ? [native.drain()] : [];
      for (const server of servers) {
        // close()'s callback runs once the last connection is gone, or at once (with
        // ERR_SERVER_NOT_RUNNING, which is fine here) for a server that never listened. Open
        // connections are bounded by line-timeout (no line yet) and LINGER_MS (answered).
        closing.push(new Promise<void>((resolve) => server.close(() => resolve())));
      }
      return Promise.all(closing).then(() => {
        if (nativePoll) clearInterval(nativePoll);
        noteNative();
        timeouts.flush();
        busy.flush();
      });
    },
  };
  return protocol;
}
