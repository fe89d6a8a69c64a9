// Bench helper: compile bench/loadgen.c with `cc -O2` into bench/.build/ and run it against a
// line-protocol listener, returning its JSON result.
// Runs in: the bench orchestrator process (bench/run.ts); the load generator is its own process.

import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from './servers.js';

export const BUILD_DIR = path.join(ROOT, 'bench', '.build');
const SOURCE = path.join(ROOT, 'bench', 'loadgen.c');
const BINARY = path.join(BUILD_DIR, 'loadgen');

export interface LoadgenResult {
  conns: number;
  errors: number;
  errorsByKind: Record<string, number>;
  seconds: number;
  connsPerSec: number;
  p50us: number;
  p90us: number;
  p99us: number;
  maxus: number;
  meanus: number;
  inFlightAtEnd: number;
  concurrency: number;
  threads: number;
  /** CPU used by the load generator itself (user + system), microseconds. */
  clientCpuUs: number;
}

/** Compiles the load generator unless the binary is newer than the source. Returns its path. */
export function buildLoadgen(): string {
  fs.mkdirSync(BUILD_DIR, { recursive: true });
  const fresh =
    fs.existsSync(BINARY) && fs.statSync(BINARY).mtimeMs >= fs.statSync(SOURCE).mtimeMs;
  if (!fresh) {
    const cc = process.env.CC ?? 'cc';
    execFileSync(cc, ['-O2', '-Wall', '-Wextra', '-pthread', '-o', BINARY, SOURCE], { stdio: 'inherit' });
  }
  return BINARY;
}

export interface LoadgenOptions {
  port: number;
  seconds: number;
  conns: number;
  /** Load generator threads, each with its own epoll loop (default 1). */
  threads?: number;
  payload?: string;
  /** The expected reply without "\n" (default: the payload byte-reversed, right for ASCII). */
  expected?: string;
  timeoutMs?: number;
}

export function runLoadgen(opts: LoadgenOptions): Promise<LoadgenResult> {
  const args = ['-h', '127.0.0.1', '-p', String(opts.port), '-c', String(opts.conns), '-d', String(opts.seconds)];
  if (opts.threads !== undefined) args.push('-T', String(opts.threads));
  if (opts.payload !== undefined) args.push('-m', opts.payload);
  if (opts.expected !== undefined) args.push('-e', opts.expected);
  if (opts.timeoutMs !== undefined) args.push('-t', String(opts.timeoutMs));
  return new Promise((resolve, reject) => {
    const child = spawn(BINARY, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => (out += chunk));
    // Bounded by -d; the guard only catches a wedged binary.
    const guard = setTimeout(() => child.kill('SIGKILL'), (opts.seconds + 30) * 1000);
    child.once('error', (err) => (clearTimeout(guard), reject(err)));
    child.once('exit', (code, signal) => {
      clearTimeout(guard);
      if (code !== 0) return reject(new Error(`loadgen exited code=${code} signal=${signal}`));
      try {
        resolve(JSON.parse(out.trim()) as LoadgenResult);
      } catch {
        reject(new Error(`loadgen printed no JSON: ${out}`));
      }
    });
  });
}
