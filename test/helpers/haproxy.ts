// Runs a real haproxy (Debian's package, installed by scripts/test-deps.sh) on
// examples/haproxy.cfg with the ports a test picked, and reads its state from the stats socket.
// Runs in: the test runner process.

import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { REPO_ROOT, waitUntil } from './raas.js';

export const HAPROXY_CFG = path.join(REPO_ROOT, 'examples', 'haproxy.cfg');

/** One row of `show stat`, by column name (pxname, svname, status, wretr, wredis, ...). */
export type StatRow = Record<string, string>;

/** One stream of `show sess all`: who the client is and which connection haproxy opened for it. */
export interface Session {
  /** The client's address:port as haproxy accepted it. */
  source: string;
  backend: string;
  /** haproxy's own end (address:port) of its connection to the server; '' before it connected. */
  backendAddr: string;
  server: string;
  /** Bytes haproxy has received from the server on this stream (its `res` channel's total). */
  responseBytes: number;
}

const started = new Set<Haproxy>();

export class Haproxy {
  readonly child: ChildProcess;
  readonly output: string[] = [];

  constructor(
    readonly statsSocket: string,
    env: Record<string, string>,
  ) {
    // -db: foreground, no daemon, so the child is haproxy itself and dies with a signal we send.
    this.child = spawn('haproxy', ['-f', HAPROXY_CFG, '-db'], {
      env: { ...process.env, ...env, HAPROXY_STATS_SOCKET: statsSocket },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => this.output.push(...chunk.split('\n').filter(Boolean)));
    }
    started.add(this);
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** One command on the stats socket; '' while the socket is not up yet. */
  command(line: string): Promise<string> {
    return new Promise<string>((resolve) => {
      const socket = net.connect(this.statsSocket);
      let data = '';
      socket.setEncoding('utf8');
      socket.on('connect', () => socket.write(`${line}\n`));
      socket.on('data', (c: string) => (data += c));
      socket.on('end', () => resolve(data));
      socket.on('error', () => resolve(''));
    });
  }

  /** Every stream haproxy holds now (`show sess all`), the stats socket's own included. */
  async sessions(): Promise<Session[]> {
    const sessions: Session[] = [];
    let current: Session | null = null;
    for (const row of (await this.command('show sess all')).split('\n')) {
      const head = /^0x[0-9a-f]+: \[.*\] id=\d+ proto=\S+ source=(\S+)/.exec(row);
      if (head) {
        current = { source: head[1]!, backend: '', backendAddr: '', server: '', responseBytes: 0 };
        sessions.push(current);
        continue;
      }
      if (!current) continue;
      const backend = /^ {2}backend=(\S+) .*?(?:addr=(\S+))?$/.exec(row);
      if (backend) {
        current.backend = backend[1]!;
        current.backendAddr = backend[2] ?? '';
      }
      const server = /^ {2}server=(\S+)/.exec(row);
      if (server) current.server = server[1]!;
      const res = /^ {2}res=0x[0-9a-f]+ \(.*total=(\d+)\)/.exec(row);
      if (res) current.responseBytes = Number(res[1]);
    }
    return sessions;
  }

  /** `show stat` as rows; empty while the socket is not up yet. */
  async stats(): Promise<StatRow[]> {
    const text = await this.command('show stat');
    const [head, ...rows] = text.split('\n').filter((l) => l.trim() !== '');
    if (!head?.startsWith('# ')) return [];
    const names = head.slice(2).split(',');
    return rows.map((row) => Object.fromEntries(row.split(',').map((v, i) => [names[i] ?? String(i), v])));
  }

  /** Status ('UP', 'DOWN', 'UP 1/2', ...) of a server in a backend. */
  async status(backend: string, server: string): Promise<string | undefined> {
    return (await this.stats()).find((r) => r.pxname === backend && r.svname === server)?.status;
  }

  async waitStatus(backend: string, server: string, wanted: 'UP' | 'DOWN', timeoutMs = 15_000): Promise<void> {
    await waitUntil(`haproxy ${backend}/${server} ${wanted}`, async () => (await this.status(backend, server)) === wanted, timeoutMs);
  }

  async stop(): Promise<void> {
    if (!this.alive) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}

/** For `after()` hooks: kills every haproxy a test started (by the pid we spawned). */
export async function reapHaproxies(): Promise<void> {
  for (const h of started) {
    if (h.alive) {
      const exited = new Promise((resolve) => h.child.once('exit', resolve));
      h.child.kill('SIGKILL');
      await exited;
    }
  }
  started.clear();
}
