// Steady load through a balancer, from a chosen client address: HTTP keep-alive clients, HTTP
// clients that close after every request, and line-protocol clients, each checking every reply
// and recording every failure (kind, time, detail).
// Runs in: the test runner process.

import * as http from 'node:http';
import * as net from 'node:net';
import { graphemeReverse } from './http-load.js';

export interface BalancerTargets {
  http: { host: string; port: number };
  line: { host: string; port: number };
  /** The client sockets bind this address (e.g. 127.0.0.2), so backends can tell it from the balancer's. */
  localAddress: string;
}

export interface ClientCounts {
  keepAlive: number;
  close: number;
  line: number;
}

export interface BalancerReport {
  ok: ClientCounts;
  failed: ClientCounts;
  /**
   * Keep-alive requests sent again (only with `retryReused`) because the balancer closed the
   * reused connection before any response: the keep-alive race RFC 9112 §9.3.1 lets a client
   * settle by retrying an idempotent request, as browsers do. Counted, never hidden.
   */
  clientRetries: number;
  failures: Record<string, number>;
  samples: string[];
  /**
   * Every failed line connection: its client-side local port (what the balancer saw as the
   * client's source port), so a test can tell which failures a killed worker caused.
   */
  lineFailures: LineFailure[];
}

export interface LineFailure {
  /** The client socket's local port; 0 when it never connected. */
  port: number;
  what: string;
  /** Milliseconds since the load started. */
  atMs: number;
}

const TEXT = 'héllo👍🏽e\u0301';

export class BalancerLoad {
  private running = true;
  private readonly loops: Promise<void>[] = [];
  private readonly startedAt = Date.now();
  readonly report: BalancerReport = {
    ok: { keepAlive: 0, close: 0, line: 0 },
    failed: { keepAlive: 0, close: 0, line: 0 },
    clientRetries: 0,
    failures: {},
    samples: [],
    lineFailures: [],
  };

  constructor(
    private readonly targets: BalancerTargets,
    clients: ClientCounts,
    private readonly options: { retryReused?: boolean; maxMs?: number } = {},
  ) {
    const maxMs = options.maxMs ?? 120_000;
    // A test that fails before stop() must not leave clients looping forever.
    setTimeout(() => (this.running = false), maxMs).unref();
    for (let i = 0; i < clients.keepAlive; i++) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      this.loops.push(this.httpLoop('keepAlive', `k${i}`, agent).finally(() => agent.destroy()));
    }
    for (let i = 0; i < clients.close; i++) this.loops.push(this.httpLoop('close', `c${i}`, false));
    for (let i = 0; i < clients.line; i++) this.loops.push(this.lineLoop(`l${i}`));
  }

  /** Successful replies of every kind so far. */
  get ok(): number {
    const { keepAlive, close, line } = this.report.ok;
    return keepAlive + close + line;
  }

  /** True once each kind has at least `n` more successes than in `since`. */
  progressed(since: ClientCounts, n: number): boolean {
    const ok = this.report.ok;
    return ok.keepAlive >= since.keepAlive + n && ok.close >= since.close + n && ok.line >= since.line + n;
  }

  snapshot(): ClientCounts {
    return { ...this.report.ok };
  }

  async stop(): Promise<BalancerReport> {
    this.running = false;
    await Promise.all(this.loops);
    return this.report;
  }

  /** Milliseconds since the load started (the time base of samples and lineFailures). */
  elapsedMs(): number {
    return Date.now() - this.startedAt;
  }

  private fail(kind: keyof ClientCounts, what: string, detail: string, port?: number): void {
    if (kind === 'line') this.report.lineFailures.push({ port: port ?? 0, what, atMs: this.elapsedMs() });
    this.report.failed[kind]++;
    const key = `${kind}:${what}`;
    this.report.failures[key] = (this.report.failures[key] ?? 0) + 1;
    if (this.report.samples.length < 20) this.report.samples.push(`+${this.elapsedMs()}ms ${key}${port ? ` port=${port}` : ''} ${detail}`);
  }

  private async httpLoop(kind: 'keepAlive' | 'close', id: string, agent: http.Agent | false): Promise<void> {
    for (let n = 0; this.running; n++) {
      const text = `${id}-${n}-${TEXT}`;
      try {
        const target = `/reverse?s=${encodeURIComponent(text)}`;
        const { status, body } = await this.get(target, agent, kind === 'close').catch((err: NodeJS.ErrnoException & { reused?: boolean }) => {
          if (!this.options.retryReused || !err.reused || err.code !== 'ECONNRESET') throw err;
          this.report.clientRetries++;
          return this.get(target, agent, kind === 'close');
        });
        if (status !== 200) this.fail(kind, `status-${status}`, body.slice(0, 80));
        else if (body !== graphemeReverse(text)) this.fail(kind, 'wrong-body', JSON.stringify(body.slice(0, 80)));
        else this.report.ok[kind]++;
      } catch (err) {
        const e = err as NodeJS.ErrnoException & { reused?: boolean };
        this.fail(kind, `${e.code ?? 'error'}${e.reused ? ':reused' : ''}`, e.message);
      }
    }
  }

  private get(path: string, agent: http.Agent | false, close: boolean): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request({
        host: this.targets.http.host,
        port: this.targets.http.port,
        localAddress: this.targets.localAddress,
        path,
        agent,
        headers: close ? { Connection: 'close' } : {},
      });
      const timer = setTimeout(() => req.destroy(Object.assign(new Error('no reply within 15 s'), { code: 'TIMEOUT' })), 15_000);
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(Object.assign(err, { reused: req.reusedSocket }));
      });
      req.on('response', (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('error', reject);
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, body });
        });
      });
      req.end();
    });
  }

  private async lineLoop(id: string): Promise<void> {
    for (let n = 0; this.running; n++) {
      const text = `${id}-${n}-${TEXT}`;
      const at = { port: 0 };
      try {
        const reply = await this.line(text, at);
        if (reply === `${graphemeReverse(text)}\n`) this.report.ok.line++;
        else this.fail('line', reply === '' ? 'empty-reply' : 'wrong-reply', JSON.stringify(reply.slice(0, 80)), at.port);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        this.fail('line', e.code ?? 'error', e.message, at.port);
      }
    }
  }

  /** One line connection; `at.port` gets the socket's local port once connected. */
  private line(text: string, at: { port: number }): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ ...this.targets.line, localAddress: this.targets.localAddress });
      const chunks: Buffer[] = [];
      const timer = setTimeout(() => socket.destroy(Object.assign(new Error('no reply within 15 s'), { code: 'TIMEOUT' })), 15_000);
      socket.on('connect', () => {
        at.port = socket.localPort ?? 0;
        socket.write(`${text}\n`);
      });
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.on('end', () => {
        clearTimeout(timer);
        socket.destroy();
        resolve(Buffer.concat(chunks).toString('utf8'));
      });
    });
  }
}
