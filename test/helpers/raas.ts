// Test harness: starts a real `raas` master, follows its log, signals it and reaps it.
// Runs in: the test runner process.

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOG, parseLine } from '../../src/log.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const CLI = path.join(REPO_ROOT, 'dist', 'src', 'cli.js');

export type LogEntry = Record<string, string>;

export interface StartOptions {
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Wait for the ready line (default true). */
  waitReady?: boolean;
  readyTimeoutMs?: number;
  /** A command that execs the master (e.g. systemd-socket-activate and its flags); runs `node cli.js` after it. */
  wrapper?: string[];
  /** What runs RAAS instead of `node dist/src/cli.js` (after the wrapper), e.g. an installed bin/raas; `args` follow it. */
  command?: string[];
  /**
   * The wrapper runs RAAS in a PID namespace of its own: the pids in its log are not ours, and
   * only the wrapper (started with --kill-child) may be killed when reaping.
   */
  ownPidNamespace?: boolean;
}

/** Every master started by a test; reapAll() kills whatever is still alive. */
const started = new Set<RaasProcess>();

export class RaasProcess {
  readonly child: ChildProcess;
  readonly entries: LogEntry[] = [];
  readonly lines: string[] = [];
  private waiters: Array<() => void> = [];
  private partial = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: string[], env: NodeJS.ProcessEnv = {}, cwd = REPO_ROOT, wrapper: string[] = [], raasCommand: string[] = [process.execPath, CLI]) {
    // detached: a new session, so no controlling terminal (WINCH is honoured) and no stray
    // signals from the test runner's terminal.
    const command = [...wrapper, ...raasCommand, ...args];
    this.child = spawn(command[0]!, command.slice(1), {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (chunk: string) => this.onData(chunk));
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => this.onData(chunk));
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
    this.child.on('exit', () => this.notify());
    started.add(this);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  private onData(chunk: string): void {
    this.partial += chunk;
    const parts = this.partial.split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) {
      this.lines.push(line);
      this.entries.push(parseLine(line));
    }
    this.notify();
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Waits until `predicate` holds for the log so far (checked on every new line), with a deadline. */
  async waitFor<T>(what: string, predicate: () => T | undefined | false, timeoutMs = 15_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = predicate();
      if (value !== undefined && value !== false) return value;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; log:\n${this.lines.slice(-40).join('\n')}`);
      }
      // Woken by the next log line; the timer only bounds the wait so the deadline is checked
      // (a poll interval inside this helper, not a sleep as synchronisation).
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits for the n-th (counting from `after`) log entry with this event and matching fields. */
  waitForEvent(event: string, fields: Record<string, string> = {}, opts: { after?: number; timeoutMs?: number } = {}) {
    const after = opts.after ?? 0;
    return this.waitFor(`event=${event} ${JSON.stringify(fields)}`, () =>
      this.entries.slice(after).find((e) => e.event === event && Object.entries(fields).every(([k, v]) => e[k] === v)),
    opts.timeoutMs);
  }

  events(event: string, role?: string): LogEntry[] {
    return this.entries.filter((e) => e.event === event && (role === undefined || e.role === role));
  }

  /** The addresses the master reported in its ready line. */
  async ready(timeoutMs = 20_000): Promise<string[]> {
    const entry = await this.waitForEvent(LOG.READY, { role: 'master' }, { timeoutMs });
    return (entry.listen ?? '').split(',');
  }

  /** Pids of workers currently alive according to the log (spawned and not exited). */
  liveWorkerPids(): number[] {
    const alive = new Set<string>();
    for (const e of this.entries) {
      if (e.role !== 'master') continue;
      if (e.event === LOG.WORKER_SPAWN && e.worker_pid) alive.add(e.worker_pid);
      if (e.event === LOG.WORKER_EXIT && e.worker_pid) alive.delete(e.worker_pid);
    }
    return [...alive].map(Number);
  }

  /** Pids of ready workers per slot, from the log. */
  readyWorkers(): Map<number, number> {
    const live = new Set(this.liveWorkerPids());
    const bySlot = new Map<number, number>();
    for (const e of this.entries) {
      if (e.event === LOG.WORKER_READY && live.has(Number(e.worker_pid))) bySlot.set(Number(e.slot), Number(e.worker_pid));
    }
    return bySlot;
  }

  signal(signal: NodeJS.Signals): void {
    process.kill(this.pid, signal);
  }

  async waitExit(timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    await this.waitFor('master exit', () => !this.alive, timeoutMs);
    return this.exited;
  }

  /** Pids of every master that logged here (a re-exec'd master shares our stderr). */
  masterPids(): number[] {
    return [...new Set(this.entries.filter((e) => e.role === 'master' && e.pid).map((e) => Number(e.pid)))];
  }

  /** Kills every master and worker it logged, by the pids we know. */
  /** Set when the log's pids belong to another PID namespace (see StartOptions). */
  logPidsForeign = false;

  kill(): void {
    if (this.logPidsForeign) {
      if (this.alive) this.child.kill('SIGKILL');
      return;
    }
    const pids = [...this.liveWorkerPids(), ...this.masterPids().filter((p) => p !== this.pid), ...(this.alive ? [this.pid] : [])];
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  errorLines(): string[] {
    return this.lines.filter((l) => l.includes('level=error'));
  }
}

export async function startRaas(opts: StartOptions): Promise<RaasProcess> {
  const raas = new RaasProcess(opts.args, opts.env, opts.cwd, opts.wrapper, opts.command);
  raas.logPidsForeign = opts.ownPidNamespace === true;
  if (opts.waitReady !== false) await raas.ready(opts.readyTimeoutMs);
  return raas;
}

/** For `after()` hooks: nothing a test started survives it. */
export async function reapAll(): Promise<void> {
  for (const raas of started) {
    raas.kill();
    if (raas.alive) await raas.exited;
  }
  started.clear();
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie still answers kill(0); it is dead for our purposes.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export function processArgs(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/**
 * Waits until `predicate` holds, asking it every `intervalMs` (20 ms unless a caller's poll has a
 * pace of its own: a sampler, a storm of signals), and fails naming `what` after `timeoutMs`.
 * Every poll of the tests goes through here, so that none is a bare sleep.
 */
export async function waitUntil(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 10_000, intervalMs = 20): Promise<void> {
  // The monotonic clock: a test may stop Date (mock.timers) while it waits.
  const deadline = performance.now() + timeoutMs;
  while (!(await predicate())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    // This helper's poll interval (not a sleep as synchronisation): the deadline above bounds it.
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function tmpDir(prefix = 'raas-test-'): string {
  return fs.mkdtempSync(path.join(fs.realpathSync('/tmp'), prefix));
}
