// Test clients for the line protocol: one request, and a load of concurrent clients that checks
// every reply and classifies every failure.
// Runs in: the test runner process.

import * as net from 'node:net';

export type Target = { host: string; port: number } | { path: string };

/** Parses an address as the master logs it: 127.0.0.1:1234, [::1]:1234, unix:/p, http://... */
export function targetOf(bound: string): Target {
  const spec = bound.replace(/^[a-z]+:\/\//, '');
  if (spec.startsWith('unix:')) return { path: spec.slice(5) };
  const i = spec.lastIndexOf(':');
  return { host: spec.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(spec.slice(i + 1)) };
}

export function connect(target: Target): net.Socket {
  return 'path' in target ? net.connect(target.path) : net.connect(target.port, target.host);
}

/** Sends `payload` (then half-closes if asked) and resolves with everything read until EOF. */
export function lineRequest(
  target: Target,
  payload: string | Buffer,
  opts: { halfClose?: boolean; timeoutMs?: number; info?: { localPort?: number } } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(target);
    if (opts.info) socket.once('connect', () => (opts.info!.localPort = socket.localPort));
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('request timed out'));
    }, opts.timeoutMs ?? 10_000);
    socket.on('connect', () => {
      socket.write(payload);
      if (opts.halfClose) socket.end();
    });
    socket.on('data', (c) => chunks.push(c));
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

export interface LoadReport {
  ok: number;
  failures: Record<string, number>;
  failed: number;
  /** The first failures with their wall-clock time, for diagnosis. */
  samples: string[];
  /** The client port of every failed request that got connected (which server socket it was). */
  failedPorts: number[];
}

/**
 * Keeps `concurrency` clients busy, each doing request after request and checking the reply,
 * until stop() is called or `maxMs` passes. Every failure (refused, reset, wrong reply,
 * timeout) is counted by kind.
 */
export class LineLoad {
  private running = true;
  private readonly loops: Promise<void>[] = [];
  readonly report: LoadReport = { ok: 0, failures: {}, failed: 0, samples: [], failedPorts: [] };
  private readonly hardStop: NodeJS.Timeout;

  constructor(
    private readonly target: Target,
    concurrency = 50,
    maxMs = 60_000,
  ) {
    this.hardStop = setTimeout(() => (this.running = false), maxMs);
    for (let i = 0; i < concurrency; i++) this.loops.push(this.loop(i));
  }

  private async loop(client: number): Promise<void> {
    let n = 0;
    while (this.running) {
      const text = `c${client}-r${n++}-héllo👍🏽`;
      const expected = [...new Intl.Segmenter('en', { granularity: 'grapheme' }).segment(text)]
        .map((s) => s.segment)
        .reverse()
        .join('');
      const info: { localPort?: number } = {};
      try {
        const reply = await lineRequest(this.target, text + '\n', { timeoutMs: 15_000, info });
        if (reply === expected + '\n') this.report.ok++;
        // The server closed without a byte: what a killed worker that had read the line leaves (FIN, not RST).
        else if (reply === '') this.fail('closed-without-reply', info.localPort);
        else this.fail(`wrong-reply:${JSON.stringify(reply).slice(0, 40)}`, info.localPort);
      } catch (err) {
        this.fail((err as NodeJS.ErrnoException).code ?? (err as Error).message, info.localPort);
      }
    }
  }

  private fail(kind: string, localPort?: number): void {
    this.report.failed++;
    this.report.failures[kind] = (this.report.failures[kind] ?? 0) + 1;
    if (localPort !== undefined) this.report.failedPorts.push(localPort);
    if (this.report.samples.length < 50) this.report.samples.push(`${new Date().toISOString()} ${kind} (port ${localPort})`);
  }

  /** Successful requests so far. */
  get ok(): number {
    return this.report.ok;
  }

  async stop(): Promise<LoadReport> {
    this.running = false;
    clearTimeout(this.hardStop);
    await Promise.all(this.loops);
    return this.report;
  }
}
