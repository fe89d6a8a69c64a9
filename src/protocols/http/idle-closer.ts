// Closes the keep-alive connections of a draining worker once they are really idle.
// Runs in: workers.
//
// Node calls a connection idle as soon as its response is written, but a busy keep-alive client
// sends its next request a moment later: closing then resets that request ("socket hang up" on a
// reused socket). Meanwhile every response written during the drain says `Connection: close`
// (shed.ts), so an active client leaves by itself after one more request. What is left to close is a
// connection that stayed idle for a whole sweep interval: no response in progress and no byte
// read since the previous sweep. Only a client silent that long and sending at that very
// instant can still meet a closing socket (the keep-alive race no server can remove).
// A connection that has not sent its first byte is not idle keep-alive: its client connected to
// send a request, and closing it fails that request whatever the client does (a client process
// descheduled for a sweep between connect() and its write: seen in the chaos test on a loaded
// machine). The sweep spares it for `headers-timeout` from the first sweep that saw it; node's own
// headersTimeout check (server.ts) ends it with a 408 no later than that after it connected.
//
// Which connections exist: node:http already lists every connection of a listening server (the
// ConnectionsList behind closeAllConnections(), which holds a connection until it closes or is
// upgraded), so nothing is done per connection here. Holding each socket in a JS Set instead,
// from 'connection' to 'close', doubled the bytes V8 promotes to the old generation per scavenge
// (470 -> 840-910 KB on Node 20 under wrk with Connection: close) and cost ~1 us of GC per
// request. A server without that list (a Node that renamed it, an app's plain net.Server in
// zero-code mode) gets the Set.

import type * as http from 'node:http';
import type * as net from 'node:net';

const kSeen = Symbol('raas.bytesReadAtLastSweep');
const kEmptySince = Symbol('raas.emptySince');
type Tracked = net.Socket & {
  _httpMessage?: http.ServerResponse | null;
  parser?: unknown;
  server?: net.Server;
  [kSeen]?: number;
  [kEmptySince]?: number;
};

/** node:http's list of a listening server's connections (its entries are HTTP parsers). */
interface ConnectionsList {
  all(): Array<{ socket?: net.Socket | null }>;
}

/** The list node keeps in a symbol-keyed property once the server listens, or null. */
export function connectionsList(server: net.Server): ConnectionsList | null {
  for (const sym of Object.getOwnPropertySymbols(server)) {
    if (sym.description === 'http.server.connections') {
      const list = (server as unknown as Record<symbol, ConnectionsList | undefined>)[sym];
      return typeof list?.all === 'function' ? list : null;
    }
  }
  return null;
}

export class IdleCloser {
  private readonly listed = new Set<net.Server>();
  /** Connections of watched servers without node's list. */
  private readonly sockets = new Set<Tracked>();
  private timer: NodeJS.Timeout | null = null;
  private firstByteGraceMs = 0;

  /**
   * Watches a server's connections; call before it listens. `event` is the one that hands over
   * its HTTP connections ('secureConnection' for TLS).
   */
  watch(server: net.Server, event: 'connection' | 'secureConnection' = 'connection'): void {
    const track = (socket: net.Socket): void => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    };
    server.on(event, track);
    // node creates the list in listen(), and 'listening' comes before any connection is accepted.
    const useList = (): void => {
      if (connectionsList(server) === null) return;
      server.off(event, track);
      this.listed.add(server);
    };
    if (server.listening) useList();
    else server.once('listening', useList);
  }

  /** Every open connection, upgraded ones (WebSockets) left out. */
  private connections(): Set<Tracked> {
    const open = new Set<Tracked>();
    // Upgraded (a WebSocket): node freed its HTTP parser. Never idle in HTTP's sense; the app's
    // workerDrain closes it properly (1001), the shutdown timeout closes the rest.
    const add = (socket: Tracked | null | undefined): void => {
      if (socket && socket.parser !== null && !socket.destroyed) open.add(socket);
    };
    for (const server of this.listed) for (const parser of connectionsList(server)?.all() ?? []) add(parser.socket);
    for (const socket of this.sockets) add(socket);
    return open;
  }

  /**
   * The response in progress on each open connection of `server` (node's `_httpMessage`: the one
   * being written or next to be; a pipelined one queued behind it is never reached, nor needed:
   * once that one closes the connection, node drops the queue).
   */
  responses(server: net.Server): http.ServerResponse[] {
    const out: http.ServerResponse[] = [];
    const add = (socket: Tracked | null | undefined): void => {
      const res = socket?._httpMessage;
      if (res != null && !socket!.destroyed) out.push(res);
    };
    if (this.listed.has(server)) for (const parser of connectionsList(server)?.all() ?? []) add(parser.socket);
    else for (const socket of this.sockets) if (socket.server === server) add(socket);
    return out;
  }

  /** Open HTTP connections, upgraded ones (WebSockets) left out. */
  httpConnections(): number {
    return this.connections().size;
  }

  /** Sweeps every `intervalMs`; a connection that never sent a byte is spared for `firstByteGraceMs`. */
  start(intervalMs: number, firstByteGraceMs = 0): void {
    if (this.timer) return;
    this.firstByteGraceMs = firstByteGraceMs;
    this.sweep();
    this.timer = setInterval(() => this.sweep(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private sweep(): void {
    const now = Date.now();
    for (const socket of this.connections()) {
      const busy = socket._httpMessage != null;
      if (!busy && socket.bytesRead === 0) {
        socket[kEmptySince] ??= now;
        if (now - socket[kEmptySince] < this.firstByteGraceMs) continue;
      }
      if (!busy && socket[kSeen] === socket.bytesRead) socket.destroy();
      else socket[kSeen] = busy ? -1 : socket.bytesRead;
    }
  }
}
