// Bench helper: find or install `wrk`, run it against an HTTP listener and parse its report.
// Runs in: the bench orchestrator process (bench/run.ts); wrk is its own process.

import { spawn } from 'node:child_process';
import { ensureCommand } from './debian.js';

/** Path to wrk; installs the Debian package when running as root. Undefined when unavailable. */
export function ensureWrk(log: (msg: string) => void): string | undefined {
  return ensureCommand('wrk', 'wrk', log);
}

export interface WrkResult {
  requests: number;
  seconds: number;
  rps: number;
  p50us: number;
  p99us: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  non2xx: number;
  /** Socket errors + non-2xx/3xx responses. */
  errors: number;
}

const UNIT_US: Record<string, number> = { us: 1, ms: 1e3, s: 1e6, m: 60e6, h: 3600e6 };

function toUs(value: string, unit: string): number {
  return Number(value) * (UNIT_US[unit] ?? NaN);
}

export function parseWrk(out: string): WrkResult {
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm').exec(out);
    return m ? toUs(m[1]!, m[2]!) : NaN;
  };
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m|h)/.exec(out);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (!total || !rps) throw new Error(`cannot parse wrk output:\n${out}`);
  const socketErrors = {
    connect: Number(sock?.[1] ?? 0),
    read: Number(sock?.[2] ?? 0),
    write: Number(sock?.[3] ?? 0),
    timeout: Number(sock?.[4] ?? 0),
  };
  const n2 = Number(non2xx?.[1] ?? 0);
  return {
    requests: Number(total[1]),
    seconds: toUs(total[2]!, total[3]!) / 1e6,
    rps: Number(rps[1]),
    p50us: pct('50'),
    p99us: pct('99'),
    socketErrors,
    non2xx: n2,
    errors: socketErrors.connect + socketErrors.read + socketErrors.write + socketErrors.timeout + n2,
  };
}

export interface WrkOptions {
  wrk: string;
  url: string;
  seconds: number;
  conns: number;
  threads: number;
  close: boolean;
}

export function runWrk(opts: WrkOptions): Promise<WrkResult> {
  const args = [`-t${opts.threads}`, `-c${opts.conns}`, `-d${opts.seconds}s`, '--latency'];
  if (opts.close) args.push('-H', 'Connection: close');
  args.push(opts.url);
  return new Promise((resolve, reject) => {
    const child = spawn(opts.wrk, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => (out += c));
    const guard = setTimeout(() => child.kill('SIGKILL'), (opts.seconds + 30) * 1000);
    child.once('error', (err) => (clearTimeout(guard), reject(err)));
    child.once('exit', (code, signal) => {
      clearTimeout(guard);
      if (code !== 0) return reject(new Error(`wrk exited code=${code} signal=${signal}:\n${out}`));
      try {
        resolve(parseWrk(out));
      } catch (err) {
        reject(err);
      }
    });
  });
}
