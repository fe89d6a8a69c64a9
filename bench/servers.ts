// Bench helper: start RAAS (dist/src/cli.js, native or JavaScript line path) or a peer (C prefork,
// the story's Ruby prefork, Node cluster round-robin or shared socket), under a chosen Node
// binary, wait until it is ready, and stop it (signal to the pid we started, wait, SIGKILL after
// a deadline).
// Runs in: the bench orchestrator process (bench/run.ts).

import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { processTree, readStat } from './proc-cpu.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
export const ROOT = path.resolve(here, '..', '..');
/** The RAAS CLI; BENCH_RAAS_CLI may point elsewhere (e.g. the baseline, to check the plumbing). */
export const RAAS_CLI = process.env.BENCH_RAAS_CLI
  ? path.resolve(process.env.BENCH_RAAS_CLI)
  : path.join(ROOT, 'dist', 'src', 'cli.js');
export const BASELINE = path.join(here, 'baseline-cluster.js');
/**
 * BENCH_BEFORE_CLI: an earlier RAAS build's CLI (e.g. a worktree at an older commit, built), measured
 * in the same run as 'raas-before' and 'raas-app-before', interleaved with the current one: a
 * change's before and after, on the same machine in the same minutes.
 */
export const BEFORE_CLI = process.env.BENCH_BEFORE_CLI ? path.resolve(process.env.BENCH_BEFORE_CLI) : null;

export const PEER_C = path.join(ROOT, 'bench', '.build', 'prefork');
export const PEER_RUBY = path.join(ROOT, 'bench', 'peers', 'prefork.rb');

/**
 * raas: the line path it picks itself (native when the addon is built); raas-js: RAAS_NATIVE=0;
 * raas-app: HTTP through `--app` (bench/peers/app.mjs); cluster-rr / cluster-shared: Node's
 * cluster with round-robin / with every worker accepting on the shared socket (for HTTP that
 * is plain node:http workers sharing one socket); c-prefork, ruby: line protocol only.
 */
export type ServerKind = 'raas' | 'raas-js' | 'raas-app' | 'raas-before' | 'raas-app-before' | 'cluster-rr' | 'cluster-shared' | 'c-prefork' | 'ruby';
export const APP = path.join(ROOT, 'bench', 'peers', 'app.mjs');

/** Does this server depend on the Node line (so it runs once per line)? */
export function usesNode(kind: ServerKind): boolean {
  return kind !== 'c-prefork' && kind !== 'ruby';
}

export interface RunningServer {
  kind: ServerKind;
  pid: number;
  /** RAAS only: the master's admin listener (`--admin`), for per-worker counts from /status. */
  adminPort?: number;
  child: ChildProcess;
  /** Last lines of stderr (for error messages). */
  stderrTail(): string;
  stop(): Promise<void>;
}

/** A free loopback port: bind port 0, read it, close (racy but fine for a bench). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen({ host: '127.0.0.1', port: 0 }, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface StartOptions {
  kind: ServerKind;
  /** `127.0.0.1:PORT` (line protocol) and/or `http://127.0.0.1:PORT`. */
  listen: string[];
  workers: number;
  /** The Node binary for RAAS and the cluster peers (default: this process's). */
  node?: string;
  readyTimeoutMs?: number;
  /** RAAS only: serve the admin listener on this loopback port. */
  adminPort?: number;
  /** RAAS only: more CLI flags (e.g. `--worker-watchdog off`). */
  extraArgs?: string[];
}

function command(opts: StartOptions): { cmd: string; args: string[]; env: NodeJS.ProcessEnv } {
  const node = opts.node ?? process.execPath;
  const listenFlags = [
    ...opts.listen.flatMap((l) => ['--listen', l]),
    ...(opts.adminPort !== undefined && opts.kind.startsWith('raas') ? ['--admin', `http://127.0.0.1:${opts.adminPort}`] : []),
  ];
  const workers = String(opts.workers);
  const port = (): string => {
    const m = /:(\d+)$/.exec(opts.listen[0] ?? '');
    if (opts.listen.length !== 1 || !m || opts.listen[0]!.startsWith('http')) throw new Error(`${opts.kind} serves one line listener only`);
    return m[1]!;
  };
  if (opts.extraArgs?.length && opts.kind.startsWith('raas')) listenFlags.push(...opts.extraArgs);
  const env = { ...process.env };
  delete env.RAAS_NATIVE;
  switch (opts.kind) {
    case 'raas':
      return { cmd: node, args: [RAAS_CLI, ...listenFlags, '--workers', workers], env };
    case 'raas-js':
      return { cmd: node, args: [RAAS_CLI, ...listenFlags, '--workers', workers], env: { ...env, RAAS_NATIVE: '0' } };
    case 'raas-app':
      return { cmd: node, args: [RAAS_CLI, ...listenFlags, '--workers', workers, '--app', APP], env };
    case 'raas-before':
      return { cmd: node, args: [beforeCli(), ...listenFlags, '--workers', workers], env };
    case 'raas-app-before':
      return { cmd: node, args: [beforeCli(), ...listenFlags, '--workers', workers, '--app', APP], env };
    case 'cluster-rr':
      return { cmd: node, args: [BASELINE, ...listenFlags, '--workers', workers], env: { ...env, NODE_CLUSTER_SCHED_POLICY: 'rr' } };
    case 'cluster-shared':
      return { cmd: node, args: [BASELINE, ...listenFlags, '--workers', workers], env: { ...env, NODE_CLUSTER_SCHED_POLICY: 'none' } };
    case 'c-prefork':
      return { cmd: PEER_C, args: [port(), workers], env };
    case 'ruby':
      return { cmd: 'ruby', args: [PEER_RUBY, port(), workers], env };
  }
}

function beforeCli(): string {
  if (BEFORE_CLI === null) throw new Error('raas-before needs BENCH_BEFORE_CLI');
  return BEFORE_CLI;
}

/** A ready signal: "ready" on stdout (baseline) or a ` event=ready` log line (RAAS master). */
function isReadyLine(line: string, stream: 'stdout' | 'stderr'): boolean {
  if (stream === 'stdout' && line.trim() === 'ready') return true;
  if (!line.includes(' event=ready')) return false;
  return !/ role=/.test(line) || / role=master\b/.test(line);
}

export async function startServer(opts: StartOptions): Promise<RunningServer> {
  const { cmd, args, env } = command(opts);
  const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const isRaas = opts.kind.startsWith('raas');
  const tail: string[] = [];
  const keep = (line: string): void => {
    tail.push(line);
    if (tail.length > 15) tail.shift();
  };
  let exited = false;
  const exitPromise = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));

  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${opts.kind} not ready after ${opts.readyTimeoutMs ?? 20000} ms`)),
      opts.readyTimeoutMs ?? 20000,
    );
    const watch = (stream: 'stdout' | 'stderr'): void => {
      let partial = '';
      child[stream]!.setEncoding('utf8');
      child[stream]!.on('data', (chunk: string) => {
        partial += chunk;
        let nl: number;
        while ((nl = partial.indexOf('\n')) >= 0) {
          const line = partial.slice(0, nl);
          partial = partial.slice(nl + 1);
          keep(line);
          if (isReadyLine(line, stream)) {
            clearTimeout(timer);
            resolve();
          }
        }
      });
    };
    watch('stdout');
    watch('stderr');
    child.once('error', (err) => (clearTimeout(timer), reject(err)));
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${opts.kind} exited before ready (code=${code} signal=${signal})`));
    });
  });

  const pid = child.pid;
  if (pid === undefined) throw new Error(`${opts.kind}: spawn failed`);
  // Stop: SIGQUIT for RAAS (graceful), SIGTERM for the baseline; then SIGKILL the master and any
  // descendant still alive (identified by pid + start time recorded while the master lived).
  const stop = async (): Promise<void> => {
    const tree = processTree(pid).filter((st) => st.pid !== pid);
    if (!exited) {
      child.kill(isRaas ? 'SIGQUIT' : 'SIGTERM');
      const deadline = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15000).unref());
      if ((await Promise.race([exitPromise, deadline])) === 'timeout') {
        process.stderr.write(`bench: ${opts.kind} pid ${pid} still running 15 s after stop signal: SIGKILL\n`);
        child.kill('SIGKILL');
        await exitPromise;
      }
    }
    for (const st of tree) {
      const now = readStat(st.pid);
      if (now && now.startTime === st.startTime) {
        try {
          process.kill(st.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  };

  try {
    await ready;
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n--- ${opts.kind} output (tail) ---\n${tail.join('\n')}`);
  }
  // Keep draining the pipes so the server never blocks on a full pipe.
  const adminPort = isRaas ? opts.adminPort : undefined;
  return { kind: opts.kind, pid, adminPort, child, stderrTail: () => tail.join('\n'), stop };
}
