// Closes the keep-alive connections of a draining worker once they are really idle.
// Runs in: workers.
//
// Node calls a connection idle as soon as its response is written, but a busy keep-alive client
// sends its next request a moment later: closing then resets that request ("socket hang up" on a
// reused socket). Meanwhile every response written during the drain says `Connection: close`,
// so an active client leaves by itself after one more request. What is left to close is a
// connection that stayed idle for a whole sweep interval: no response in progress and no byte
// read since the previous sweep. Only a client silent that long and sending at that very
// instant can still meet a closing socket (the keep-alive race no server can remove).
// A connection that has not sent its first byte is not idle keep-alive: its client connected to
// send a request, and closing it fails that request whatever the client does (a client process
// descheduled for a sweep between connect() and its write: seen in the chaos test on a loaded
// machine). It keeps the time it has outside a drain, `headers-timeout`, before the sweep may
// close it.

import type * as net from 'node:net';

const kSeen = Symbol('raas.bytesReadAtLastSweep');
const kAcceptedAt = Symbol('raas.acceptedAt');
type Tracked = net.Socket & { _httpMessage?: unknown; parser?: unknown; [kSeen]?: number; [kAcceptedAt]?: number };

export class IdleCloser {
  private readonly sockets = new Set<Tracked>();
  private timer: NodeJS.Timeout | null = null;
  private firstByteGraceMs = 0;

  /** One 'close' listener shared by every socket: no closure or once() wrapper per connection. */
  private readonly onClose: (this: Tracked) => void;

  constructor() {
    const sockets = this.sockets;
    this.onClose = function (this: Tracked): void {
      sockets.delete(this);
    };
  }

  /** Called for every accepted connection (once per connection, not per request). */
  track(socket: net.Socket): void {
    (socket as Tracked)[kAcceptedAt] = Date.now();
    this.sockets.add(socket);
    socket.on('close', this.onClose);
  }

  /** Open HTTP connections, upgraded ones (WebSockets) left out. */
  httpConnections(): number {
    let n = 0;
    for (const socket of this.sockets) if (socket.parser !== null) n++;
    return n;
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
    for (const socket of this.sockets) {
      // Upgraded (a WebSocket): node freed its HTTP parser. Never idle in HTTP's sense; the app's
      // workerDrain closes it properly (1001), the shutdown timeout closes the rest.
      if (socket.parser === null) {
        this.sockets.delete(socket);
        continue;
      }
      const busy = socket._httpMessage != null;
      if (!busy && socket.bytesRead === 0 && now - (socket[kAcceptedAt] ?? 0) < this.firstByteGraceMs) continue;
      if (!busy && socket[kSeen] === socket.bytesRead) socket.destroy();
      else socket[kSeen] = busy ? -1 : socket.bytesRead;
    }
  }
}
