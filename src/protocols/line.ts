// The RAAS line protocol: a client connects and sends one line; the reply is that line reversed
// (by grapheme cluster) followed by "\n", then the server closes the connection.
// Runs in: workers.
//
// This is the benchmarked hot path. Handlers are created once per protocol and shared by every
// socket (`this` is the socket); per-connection state is one property, set only when the line
// spans several chunks.

import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { LOG } from '../log.js';
import { NO_STATS, type Protocol, type ProtocolFactory } from './types.js';
import { LineReader, type LineResult } from './line-reader.js';
import { reverseUtf8 } from './reverse.js';

const ERR_TOO_LONG = Buffer.from('ERR line too long\n');
const ERR_INVALID_UTF8 = Buffer.from('ERR invalid UTF-8\n');
const EMPTY_LINE: LineResult = Object.freeze({ kind: 'line', bytes: Buffer.alloc(0) });

/**
 * How long a socket answered "ERR line too long" keeps reading (and discarding) what the client
 * is still sending. Closing with unread input makes the kernel send RST instead of FIN, and a
 * client still busy writing its huge line could then lose the error reply.
 */
const LINGER_MS = 2000;

const kReader = Symbol('raas.lineReader');
/** When the connection was accepted (performance.now()), for the latency histogram. */
const kStart = Symbol('raas.lineStart');
/** On each server: the listener index its connections are counted under. */
const kListener = Symbol('raas.lineListener');
/** undefined: no byte yet; a LineReader: line spans chunks; null: answered, ignore input. */
type LineSocket = net.Socket & { [kReader]?: LineReader | null; [kStart]: number; server: net.Server & { [kListener]: number } };

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

/** Answers; returns whether the answer was an ERR reply. */
function answer(socket: LineSocket, result: LineResult): boolean {
  socket[kReader] = null;
  if (result.kind === 'too-long') {
    // Half-close and keep draining the client's input; autoDestroy closes once it half-closes too.
    socket.end(ERR_TOO_LONG);
    setTimeout(destroySocket, LINGER_MS, socket).unref();
    return true;
  }
  const reply = reverseUtf8(result.bytes, true);
  send(socket, reply ?? ERR_INVALID_UTF8);
  return reply === null;
}

export const createLineProtocol: ProtocolFactory = ({ settings, log, stats = NO_STATS }) => {
  const maxLine = settings.maxLine;
  const idleMs = Math.max(1, Math.round(settings.idleTimeout * 1000));
  const servers = new Set<net.Server>();

  // A handler must never throw: an exception here would reach uncaughtException and the worker.
  function failed(socket: LineSocket, err: unknown): void {
    log.error(LOG.HANDLER_ERROR, { protocol: 'line', error: String(err) });
    abandon(socket);
    socket.destroy();
  }

  function onData(this: LineSocket, chunk: Buffer): void {
    try {
      let reader = this[kReader];
      if (reader === null) return;
      if (reader === undefined) reader = new LineReader(maxLine);
      const result = reader.push(chunk);
      if (result === null) this[kReader] = reader;
      else answered(this, answer(this, result));
    } catch (err) {
      failed(this, err);
    }
  }

  // The client half-closed (allowHalfOpen): a last line without "\n" is still answered.
  function onEnd(this: LineSocket): void {
    try {
      const reader = this[kReader];
      if (reader === null) return;
      answered(this, answer(this, reader === undefined ? EMPTY_LINE : reader.end()));
    } catch (err) {
      failed(this, err);
    }
  }

  // Resets and broken pipes are the client's business; Node destroys the socket after 'error'.
  function onError(this: LineSocket, err: NodeJS.ErrnoException): void {
    log.debug(LOG.CLIENT_ERROR, { protocol: 'line', code: err.code ?? err.message });
    abandon(this);
  }

  function onIdle(this: LineSocket): void {
    abandon(this);
    this.destroy();
  }

  function answered(socket: LineSocket, error: boolean): void {
    stats.answered(socket.server[kListener], (performance.now() - socket[kStart]) / 1000, error);
  }

  /** A connection that leaves unanswered (reset, idle timeout) counts once. */
  function abandon(socket: LineSocket): void {
    if (socket[kReader] === null) return;
    socket[kReader] = null;
    stats.abandoned(socket.server[kListener]);
  }

  function onConnection(socket: net.Socket): void {
    socket.on('error', onError);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('timeout', onIdle);
    socket.setTimeout(idleMs);
  }

  const protocol: Protocol = {
    createServer(listener = 0): net.Server {
      const server = net.createServer({ allowHalfOpen: true }, (socket: net.Socket) => {
        stats.accepted(listener);
        stats.started(listener);
        (socket as LineSocket)[kStart] = performance.now();
        onConnection(socket);
      });
      (server as LineSocket['server'])[kListener] = listener;
      servers.add(server);
      return server;
    },

    drain(): Promise<void> {
      const closing: Promise<void>[] = [];
      for (const server of servers) {
        // close()'s callback runs once the last connection is gone, or at once (with
        // ERR_SERVER_NOT_RUNNING, which is fine here) for a server that never listened.
        closing.push(new Promise<void>((resolve) => server.close(() => resolve())));
      }
      return Promise.all(closing).then(() => undefined);
    },
  };
  return protocol;
};
