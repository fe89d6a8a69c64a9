// Bench helper: start RAAS (dist/src/cli.js) or the cluster baseline, wait until it is ready,
// and stop it (signal to the pid we started, wait, SIGKILL after a deadline).
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

export type ServerKind = 'raas' | 'baseline';

export interface RunningServer {
  kind: ServerKind;
  pid: number;
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
  readyTimeoutMs?: number;
}

/** A ready signal: "ready" on stdout (baseline) or a ` event=ready` log line (RAAS master). */
function isReadyLine(line: string, stream: 'stdout' | 'stderr'): boolean {
  if (stream === 'stdout' && line.trim() === 'ready') return true;
  if (!line.includes(' event=ready')) return false;
  return !/ role=/.test(line) || / role=master\b/.test(line);
}

export async function startServer(opts: StartOptions): Promise<RunningServer> {
  const script = opts.kind === 'raas' ? RAAS_CLI : BASELINE;
  const args = [script, ...opts.listen.flatMap((l) => ['--listen', l]), '--workers', String(opts.workers)];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
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
      child.kill(opts.kind === 'raas' ? 'SIGQUIT' : 'SIGTERM');
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
  return { kind: opts.kind, pid, child, stderrTail: () => tail.join('\n'), stop };
}
