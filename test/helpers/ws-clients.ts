// WebSocket clients for the integration tests: each keeps one connection open, records the worker
// pid the server greets it with and every close code, and reconnects after a close 1001.
// Runs in: the test runner process.

import WebSocket from 'ws';

export class ReconnectingClients {
  /** Close codes seen, by code. Anything but 1001 is a failure of the drain. */
  readonly closes: Record<number, number> = {};
  readonly errors: string[] = [];
  /** The worker pid each client is connected to now (null while reconnecting). */
  readonly pidOf: Array<number | null>;
  private readonly sockets: Array<WebSocket | null>;
  private running = true;

  constructor(private readonly url: string, count: number) {
    this.pidOf = new Array<number | null>(count).fill(null);
    this.sockets = new Array<WebSocket | null>(count).fill(null);
    for (let i = 0; i < count; i++) this.connect(i);
  }

  private connect(i: number): void {
    const ws = new WebSocket(this.url);
    this.sockets[i] = ws;
    ws.on('message', (data) => {
      const m = /^hello (\d+)$/.exec(String(data));
      if (m) {
        this.pidOf[i] = Number(m[1]);
        ws.send(`ping ${i}`);
      }
    });
    ws.on('error', (err) => this.errors.push(`client ${i}: ${err.message}`));
    ws.on('close', (code) => {
      this.pidOf[i] = null;
      if (!this.running) return;
      this.closes[code] = (this.closes[code] ?? 0) + 1;
      if (code === 1001) this.connect(i);
    });
  }

  /** True once every client is connected to a worker, all in `pids` when given. */
  settledOn(pids?: readonly number[]): boolean {
    return this.pidOf.every((p) => p !== null && (pids === undefined || pids.includes(p)));
  }

  get connectedPids(): Set<number> {
    return new Set(this.pidOf.filter((p): p is number => p !== null));
  }

  close(): void {
    this.running = false;
    for (const ws of this.sockets) ws?.terminate();
  }
}
