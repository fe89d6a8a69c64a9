// The RAAS line protocol: a client connects and sends one line; the reply is that line reversed
// (by grapheme cluster) followed by "\n", then the server closes the connection.
// Runs in: workers.
//
// This is the benchmarked hot path. Handlers are created once per protocol and shared by every
// socket (`this` is the socket); per-connection state is one property, set only when the line
// spans several chunks.

import * as net from 'node:net';
import { LOG } from '../log.js';
import type { Protocol, ProtocolFactory } from './types.js';
import { LineReader, type LineResult } from './line-reader.js';
import { reverseUtf8 } from './reverse.js';
import { loadLineFast, NativeLineServer } from './line-native.js';

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
/** undefined: no byte yet; a LineReader: line spans chunks; null: answered, ignore input. */
type LineSocket = net.Socket & { [kReader]?: LineReader | null };

function destroySocket(socket: net.Socket): void {
  socket.destroy();
}

function onTimeout(this: net.Socket): void {
  this.destroy();
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

function answer(socket: LineSocket, result: LineResult): void {
  socket[kReader] = null;
  if (result.kind === 'too-long') {
    // Half-close and keep draining the client's input; autoDestroy closes once it half-closes too.
    socket.end(ERR_TOO_LONG);
    setTimeout(destroySocket, LINGER_MS, socket).unref();
    return;
  }
  send(socket, reverseUtf8(result.bytes, true) ?? ERR_INVALID_UTF8);
}

export const createLineProtocol: ProtocolFactory = ({ settings, log }) => {
  const maxLine = settings.maxLine;
  const idleMs = Math.max(1, Math.round(settings.idleTimeout * 1000));
  const servers = new Set<net.Server>();
  // The native path (line-native.ts) serves plain listeners when the addon is there; PROXY
  // protocol listeners always take this file's path.
  const addon = loadLineFast();
  // Per-worker stats: native.counters() (accepted, answered, errors, open; kept in C, read once
  // a beat, nothing per request) is what the native path reports.
  const native = addon ? new NativeLineServer(addon, settings, log) : null;

  // A handler must never throw: an exception here would reach uncaughtException and the worker.
  function failed(socket: net.Socket, err: unknown): void {
    log.error(LOG.HANDLER_ERROR, { protocol: 'line', error: String(err) });
    socket.destroy();
  }

  function onData(this: LineSocket, chunk: Buffer): void {
    try {
      let reader = this[kReader];
      if (reader === null) return;
      if (reader === undefined) reader = new LineReader(maxLine);
      const result = reader.push(chunk);
      if (result === null) this[kReader] = reader;
      else answer(this, result);
    } catch (err) {
      failed(this, err);
    }
  }

  // The client half-closed (allowHalfOpen): a last line without "\n" is still answered.
  function onEnd(this: LineSocket): void {
    try {
      const reader = this[kReader];
      if (reader === null) return;
      answer(this, reader === undefined ? EMPTY_LINE : reader.end());
    } catch (err) {
      failed(this, err);
    }
  }

  // Resets and broken pipes are the client's business; Node destroys the socket after 'error'.
  function onError(this: net.Socket, err: NodeJS.ErrnoException): void {
    log.debug(LOG.CLIENT_ERROR, { protocol: 'line', code: err.code ?? err.message });
  }

  function onConnection(socket: net.Socket): void {
    socket.on('error', onError);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('timeout', onTimeout);
    socket.setTimeout(idleMs);
  }

  const protocol: Protocol = {
    fastPath: native ? 'native' : 'js',

    serveFd(fd: number, backlog: number, address: string): boolean {
      if (!native || address.includes('+proxy')) return false;
      native.listen(fd, backlog);
      return true;
    },

    createServer(): net.Server {
      const server = net.createServer({ allowHalfOpen: true }, onConnection);
      servers.add(server);
      return server;
    },

    drain(): Promise<void> {
      const closing: Promise<void>[] = native ? [native.drain()] : [];
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
