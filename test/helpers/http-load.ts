// HTTP test clients: one request (with its own or a shared agent), a raw socket exchange for
// requests node's client would refuse to send, and a keep-alive load of concurrent clients that
// checks every body and classifies every failure.
// Runs in: the test runner process.

import * as http from 'node:http';
import * as net from 'node:net';

export interface HttpTarget {
  host: string;
  port: number;
}

/** `http://127.0.0.1:41234` (as the master logs it) -> host and port. */
export function httpTarget(bound: string): HttpTarget {
  const url = new URL(bound);
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) };
}

export interface HttpReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
  /** The request went out on a keep-alive socket that had already carried a response. */
  reused: boolean;
  /** The client's port: equal ports on one agent mean one TCP connection. */
  localPort: number | undefined;
}

export interface RequestOptions {
  method?: string;
  path: string;
  headers?: http.OutgoingHttpHeaders;
  body?: string | Buffer;
  /** Send the body with Transfer-Encoding: chunked (no Content-Length). */
  chunked?: boolean;
  agent?: http.Agent | false;
  timeoutMs?: number;
}

/** A request error carrying whether it went out on a reused keep-alive socket, and the client's port. */
export type RequestError = NodeJS.ErrnoException & { reused?: boolean; localPort?: number; beforeResponse?: boolean };

export function httpRequest(target: HttpTarget, opts: RequestOptions): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: target.host,
      port: target.port,
      method: opts.method ?? 'GET',
      path: opts.path,
      headers: opts.headers,
      agent: opts.agent ?? false,
    });
    let localPort: number | undefined;
    req.on('socket', (socket) => {
      if (socket.localPort !== undefined) localPort = socket.localPort;
      else socket.once('connect', () => (localPort = socket.localPort));
    });
    const timer = setTimeout(() => {
      const err: RequestError = new Error(`request timed out after ${opts.timeoutMs ?? 10_000} ms`);
      err.code = 'TIMEOUT';
      req.destroy(err);
    }, opts.timeoutMs ?? 10_000);
    let responded = false;
    req.on('error', (err: RequestError) => {
      clearTimeout(timer);
      err.reused = req.reusedSocket;
      err.localPort = localPort;
      err.beforeResponse = !responded;
      reject(err);
    });
    req.on('response', (res) => {
      responded = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err: RequestError) => {
        clearTimeout(timer);
        err.reused = req.reusedSocket;
        err.localPort = localPort;
        reject(err);
      });
      res.on('end', () => {
        clearTimeout(timer);
        const body = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          text: body.toString('utf8'),
          reused: req.reusedSocket,
          localPort,
        });
      });
    });
    if (opts.body !== undefined && opts.chunked) {
      // Two writes before end(): node frames them as chunks.
      const buf = Buffer.from(opts.body);
      const half = Math.floor(buf.length / 2);
      req.write(buf.subarray(0, half));
      req.end(buf.subarray(half));
    } else {
      req.end(opts.body);
    }
  });
}

export interface RawExchange {
  data: Buffer;
  text: string;
  /** The server ended or reset the connection (false: our deadline ran out first). */
  closed: boolean;
  /** Milliseconds from connect to the first byte received, or null. */
  firstByteMs: number | null;
  /** Milliseconds from connect to the close. */
  ms: number;
  error: string | null;
}

/**
 * Writes `payload` on a raw TCP connection (all at once, or `trickle` bytes one every
 * `trickleMs`, never finishing) and collects everything until the server closes or `timeoutMs`.
 */
export function rawExchange(
  target: HttpTarget,
  payload: string | Buffer,
  opts: { timeoutMs?: number; trickle?: string; trickleMs?: number } = {},
): Promise<RawExchange> {
  return new Promise((resolve) => {
    const socket = net.connect(target.port, target.host);
    const chunks: Buffer[] = [];
    let connectedAt = Date.now();
    let firstByteMs: number | null = null;
    let trickleTimer: NodeJS.Timeout | null = null;
    let settled = false;
    const finish = (closed: boolean, error: string | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      if (trickleTimer) clearInterval(trickleTimer);
      socket.destroy();
      const data = Buffer.concat(chunks);
      resolve({ data, text: data.toString('latin1'), closed, firstByteMs, ms: Date.now() - connectedAt, error });
    };
    const deadline = setTimeout(() => finish(false, null), opts.timeoutMs ?? 10_000);
    socket.on('connect', () => {
      connectedAt = Date.now();
      socket.write(payload);
      if (opts.trickle !== undefined) {
        let i = 0;
        const bytes = opts.trickle;
        trickleTimer = setInterval(() => {
          if (socket.writable) socket.write(bytes[i++ % bytes.length]!);
        }, opts.trickleMs ?? 100);
      }
    });
    socket.on('data', (c: Buffer) => {
      if (firstByteMs === null) firstByteMs = Date.now() - connectedAt;
      chunks.push(c);
    });
    socket.on('end', () => finish(true, null));
    socket.on('close', () => finish(true, null));
    socket.on('error', (err: NodeJS.ErrnoException) => finish(true, err.code ?? err.message));
  });
}

/** Splits a byte stream of HTTP/1.1 responses with Content-Length bodies into (status, headers, body). */
export function parseResponses(text: string): Array<{ status: number; headers: Record<string, string>; body: string }> {
  const out: Array<{ status: number; headers: Record<string, string>; body: string }> = [];
  let rest = text;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) throw new Error(`incomplete response head: ${JSON.stringify(rest.slice(0, 200))}`);
    const [statusLine, ...lines] = rest.slice(0, end).split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '');
    if (!m) throw new Error(`bad status line: ${JSON.stringify(statusLine)}`);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    const bodyStart = end + 4;
    out.push({ status: Number(m[1]), headers, body: rest.slice(bodyStart, bodyStart + length) });
    rest = rest.slice(bodyStart + length);
  }
  return out;
}

/** `text` reversed by user-perceived character, as RAAS does. */
export function graphemeReverse(text: string): string {
  return [...new Intl.Segmenter('en', { granularity: 'grapheme' }).segment(text)]
    .map((s) => s.segment)
    .reverse()
    .join('');
}

export interface HttpLoadReport {
  ok: number;
  failed: number;
  /** Failures by kind: `ECONNRESET:reused`, `status:503`, `wrong-body`, `TIMEOUT:fresh`... */
  failures: Record<string, number>;
  /** Successful responses that carried `Connection: close`. */
  closeResponses: number;
  /** Requests in flight when stop() was called: they are awaited and counted like the others. */
  inflightAtStop: number;
  /** The first few failures, with the time since the load started, for diagnosis. */
  samples: string[];
  /** Successful responses per `x-pid` response header (apps that name their worker). */
  byPid: Record<string, number>;
  /** The client port of every failed request whose connection had one (which server socket it was). */
  failedPorts: number[];
  /**
   * Requests retried once because their reused keep-alive connection was closed before any byte of
   * a response (the keep-alive race: the server closed it as idle while the request was on its way).
   * RFC 9110 9.2.2 lets a client retry an idempotent request then; browsers, undici and haproxy do.
   */
  retriedReused: number;
}

export interface HttpLoadOptions {
  concurrency?: number;
  /** The load stops by itself after this long. */
  maxMs?: number;
  timeoutMs?: number;
  /**
   * Each client drops its keep-alive connection and opens a new one after this many requests.
   * Without it, which worker holds which client is decided once, by the initial connect burst
   * (one worker may take them all); with it, every worker soon holds some.
   */
  reconnectEvery?: number;
  /** false: every request on a fresh connection, sent with `Connection: close` (default true). */
  keepAlive?: boolean;
  /** How many failures are kept in `samples` (default 10). */
  samples?: number;
  /** The request of client `client`'s n-th iteration and the body it must get back. */
  request?: (client: number, n: number) => { path: string; expected: string };
}

export function reverseRequest(client: number, n: number): { path: string; expected: string } {
  const text = `c${client}-r${n}-héllo👍🏽e\u0301`;
  return { path: `/reverse?s=${encodeURIComponent(text)}`, expected: graphemeReverse(text) };
}

/**
 * `concurrency` clients, each with its own keep-alive agent (one socket), doing GET after GET and
 * checking status 200 and the body, until stop() or `maxMs`. With `keepAlive: false` each GET goes
 * on a connection of its own, closed after the response.
 */
export class HttpLoad {
  private running = true;
  private inflight = 0;
  private readonly loops: Promise<void>[] = [];
  private readonly agents: http.Agent[] = [];
  private readonly startedAt = Date.now();
  private readonly hardStop: NodeJS.Timeout;
  readonly report: HttpLoadReport = { ok: 0, failed: 0, failures: {}, closeResponses: 0, inflightAtStop: 0, samples: [], byPid: {}, failedPorts: [], retriedReused: 0 };
  /** Per client, the x-pid of its last response: the worker holding its keep-alive connection. */
  private readonly holder: (string | undefined)[] = [];

  constructor(
    private readonly target: HttpTarget,
    private readonly opts: HttpLoadOptions = {},
  ) {
    this.hardStop = setTimeout(() => (this.running = false), opts.maxMs ?? 60_000);
    for (let i = 0; i < (opts.concurrency ?? 40); i++) this.loops.push(this.loop(i));
  }

  private newAgent(): http.Agent {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    this.agents.push(agent);
    return agent;
  }

  private async loop(client: number): Promise<void> {
    const make = this.opts.request ?? reverseRequest;
    const every = this.opts.reconnectEvery;
    let agent = this.newAgent();
    for (let n = 0; this.running; n++) {
      if (every !== undefined && n > 0 && n % every === 0) {
        agent.destroy(); // idle between two requests: nothing in flight is cut
        this.holder[client] = undefined;
        agent = this.newAgent();
      }
      const { path, expected } = make(client, n);
      this.inflight++;
      try {
        const send = () => httpRequest(this.target, { path, agent: this.opts.keepAlive === false ? false : agent, timeoutMs: this.opts.timeoutMs ?? 15_000 });
        const reply = await send().catch((err: RequestError) => {
          if (!(err.reused && err.beforeResponse && (err.code === 'ECONNRESET' || err.code === 'EPIPE'))) throw err;
          // The keep-alive race (see retriedReused): once, on a new connection, as real clients do.
          this.report.retriedReused++;
          agent.destroy();
          agent = this.newAgent();
          return send();
        });
        if (reply.status !== 200) this.fail(`status:${reply.status}`, `${path} -> ${reply.status} ${reply.text.slice(0, 60)}`);
        else if (reply.text !== expected) this.fail('wrong-body', `${path} -> ${JSON.stringify(reply.text.slice(0, 60))}`);
        else {
          this.report.ok++;
          if (reply.headers.connection === 'close') this.report.closeResponses++;
          const pid = reply.headers['x-pid'];
          if (typeof pid === 'string') this.report.byPid[pid] = (this.report.byPid[pid] ?? 0) + 1;
          this.holder[client] = reply.headers.connection === 'close' || typeof pid !== 'string' ? undefined : pid;
        }
      } catch (err) {
        const e = err as RequestError;
        this.fail(`${e.code ?? e.message}:${e.reused ? 'reused' : 'fresh'}`, `${path} -> ${e.message} (port ${e.localPort})`);
        if (e.localPort !== undefined) this.report.failedPorts.push(e.localPort);
      } finally {
        this.inflight--;
      }
    }
  }

  private fail(kind: string, detail: string): void {
    this.report.failed++;
    this.report.failures[kind] = (this.report.failures[kind] ?? 0) + 1;
    if (this.report.samples.length < (this.opts.samples ?? 10)) {
      this.report.samples.push(`+${Date.now() - this.startedAt}ms (${new Date().toISOString()}) ${kind} ${detail}`);
    }
  }

  get ok(): number {
    return this.report.ok;
  }

  /** How many clients hold a keep-alive connection to worker `pid` now (by their last response). */
  clientsOn(pid: number | string): number {
    return this.holder.filter((p) => p === String(pid)).length;
  }

  /** Starts no new request; resolves once every request in flight has finished (or failed). */
  async stop(): Promise<HttpLoadReport> {
    if (this.running) this.report.inflightAtStop = this.inflight;
    this.running = false;
    clearTimeout(this.hardStop);
    await Promise.all(this.loops);
    for (const agent of this.agents) agent.destroy();
    return this.report;
  }
}
