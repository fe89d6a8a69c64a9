// The `ops` bench scenario: RAAS (line protocol, 2 workers, --pid, --upgrade-handover auto) under
// continuous load from the C load generator while, in turn, a HUP (rolling reload) and a USR2
// (automatic hand-over to a new master) happen. For each operation: connections served, failed
// (by kind), p99 and worst latency within the operation window, which runs from the signal until
// the operation completed (HUP: the master logs reload-done; USR2: the old master has exited).
// Runs in: the bench orchestrator process (bench/run.ts); RAAS masters, workers and the load
// generator are other processes. Every process seen is tracked by (pid, start time) and reaped or
// killed on the way out, whatever happens.
//
// Windows and connections share one clock: the load generator prints its start as CLOCK_REALTIME
// ms and writes one record per connection (start and end offsets, status, client port on errors);
// signals are stamped with Date.now() when sent, reload-done with the master's own log time, the
// old master's exit with Date.now() when the exit is reported to us (its parent).

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LOG, parseLine } from '../src/log.js';
import { fmtUs, table } from './format.js';
import { buildLoadgen } from './loadgen.js';
import { processTree, readStat } from './proc-cpu.js';
import { freePort, RAAS_CLI, ROOT } from './servers.js';

const HOST = '127.0.0.1';
const KINDS = ['refused', 'reset', 'wrongReply', 'timeout', 'other'] as const; // loadgen.c order
const INTERVAL_MS = 100;
const WARMUP_MS = 1000;
const OP_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;

export interface OpsOptions {
  conns: number;
  threads: number;
  workers: number;
  /** Quiet time before, between and after the operations. */
  quietMs: number;
  log: (msg: string) => void;
  /** Registers a cleanup to run if the bench is interrupted; returns the unregister function. */
  onInterrupt: (stop: () => Promise<void>) => () => void;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Like sleep, but never keeps the process alive by itself (for timeouts that may be left behind). */
const expiry = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

// ---- process tracking: every RAAS process we learn about, by (pid, start time) ----

interface Known {
  pid: number;
  startTime: number;
  role: string;
}

class Processes {
  private readonly known = new Map<string, Known>();

  /** Records a live process (a pid from a log line or a tree scan); ignores one already gone. */
  add(pid: number, role: string): void {
    const st = readStat(pid);
    if (!st || st.state === 'Z') return;
    const key = `${pid}:${st.startTime}`;
    const prev = this.known.get(key);
    if (!prev || prev.role === '?') this.known.set(key, { pid, startTime: st.startTime, role });
  }

  /** Adds every descendant of the given roots (a worker that has not logged yet). */
  scan(roots: number[]): void {
    for (const root of roots) for (const st of processTree(root)) if (st.pid !== root) this.add(st.pid, '?');
  }

  /** A known process that still exists: alive, or a zombie nobody reaped yet. */
  present(): Array<Known & { state: string; ppid: number }> {
    const out: Array<Known & { state: string; ppid: number }> = [];
    for (const k of this.known.values()) {
      const st = readStat(k.pid);
      if (st && st.startTime === k.startTime) out.push({ ...k, state: st.state, ppid: st.ppid });
    }
    return out;
  }

  isAlive(pid: number): boolean {
    return this.present().some((p) => p.pid === pid && p.state !== 'Z');
  }

  all(): Known[] {
    return [...this.known.values()];
  }
}

// ---- RAAS logs ----

interface LogEntry {
  /** Date.now() when we read the line. */
  at: number;
  /** The writer's own timestamp (its `time=` field), ms. */
  time: number;
  fields: Record<string, string>;
  raw: string;
}

class LogWatch {
  readonly lines: LogEntry[] = [];
  private readonly waiters = new Set<{ from: number; pred: (e: LogEntry) => boolean; resolve: (e: LogEntry) => void }>();

  constructor(private readonly onEntry: (e: LogEntry) => void) {}

  feed(raw: string): void {
    if (!raw.includes('event=')) return;
    const fields = parseLine(raw);
    const entry: LogEntry = { at: Date.now(), time: Date.parse(fields.time ?? '') || Date.now(), fields, raw };
    this.lines.push(entry);
    this.onEntry(entry);
    const index = this.lines.length - 1;
    for (const w of this.waiters) {
      if (index >= w.from && w.pred(entry)) {
        this.waiters.delete(w);
        w.resolve(entry);
      }
    }
  }

  /** The first line from index `from` on that matches (already read, or still to come). */
  wait(from: number, pred: (e: LogEntry) => boolean, timeoutMs: number, what: string): Promise<LogEntry> {
    const seen = this.lines.slice(from).find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`no ${what} within ${timeoutMs} ms`));
      }, timeoutMs).unref();
      const waiter = { from, pred, resolve: (e: LogEntry) => (clearTimeout(timer), resolve(e)) };
      this.waiters.add(waiter);
    });
  }

  /** Lines with these events, for diagnosis. */
  matching(events: readonly string[]): LogEntry[] {
    return this.lines.filter((e) => events.includes(e.fields.event ?? ''));
  }
}

function lineSplitter(onLine: (line: string) => void): (chunk: string) => void {
  let partial = '';
  return (chunk) => {
    partial += chunk;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      onLine(partial.slice(0, nl));
      partial = partial.slice(nl + 1);
    }
  };
}

// ---- the load generator, streaming ----

interface IntervalLine {
  i: number;
  t0Ms: number;
  t1Ms: number;
  conns: number;
  errors: number;
  errorsByKind: Record<string, number>;
  p50us: number;
  p99us: number;
  maxus: number;
}

interface Summary {
  conns: number;
  errors: number;
  errorsByKind: Record<string, number>;
  connsPerSec: number;
  p99us: number;
  maxus: number;
  inFlightAtEnd: number;
  startWallMs: number;
}

interface LoadgenStream {
  child: ChildProcess;
  started: Promise<number>;
  intervals: IntervalLine[];
  done: Promise<Summary>;
}

function startLoadgen(binary: string, args: string[]): LoadgenStream {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const intervals: IntervalLine[] = [];
  let resolveStart!: (wallMs: number) => void;
  let resolveDone!: (s: Summary) => void;
  let rejectBoth!: (err: Error) => void;
  const started = new Promise<number>((resolve, reject) => {
    resolveStart = resolve;
    rejectBoth = reject;
  });
  let summary: Summary | undefined;
  const done = new Promise<Summary>((resolve, reject) => {
    resolveDone = resolve;
    const prev = rejectBoth;
    rejectBoth = (err) => (prev(err), reject(err));
  });
  started.catch(() => undefined);
  done.catch(() => undefined);
  child.stdout!.setEncoding('utf8');
  child.stdout!.on(
    'data',
    lineSplitter((line) => {
      if (!line.trim()) return;
      let msg: { type?: string } & Record<string, unknown>;
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        process.stderr.write(`bench: ops: loadgen printed a non-JSON line: ${line}\n`);
        return;
      }
      if (msg.type === 'start') resolveStart(msg.startWallMs as number);
      else if (msg.type === 'interval') intervals.push(msg as unknown as IntervalLine);
      else if (msg.type === 'summary') summary = msg as unknown as Summary;
    }),
  );
  child.once('error', (err) => rejectBoth(err));
  child.once('exit', (code, signal) => {
    if (code === 0 && summary) resolveDone(summary);
    else rejectBoth(new Error(`loadgen exited code=${code} signal=${signal}${summary ? '' : ' without a summary'}`));
  });
  return { child, started, intervals, done };
}

/** One finished connection: wall-clock start and end (ms), status (0 ok), client port on errors. */
interface ConnRecord {
  start: number;
  end: number;
  status: number;
  port: number;
}

function readRecords(file: string, startWallMs: number): ConnRecord[] {
  const buf = fs.readFileSync(file);
  const out: ConnRecord[] = new Array(Math.floor(buf.length / 16));
  for (let i = 0; i < out.length; i++) {
    const o = i * 16;
    out[i] = {
      start: startWallMs + buf.readUInt32LE(o) / 1000,
      end: startWallMs + buf.readUInt32LE(o + 4) / 1000,
      status: buf.readUInt32LE(o + 8),
      port: buf.readUInt32LE(o + 12),
    };
  }
  return out;
}

// ---- windows ----

interface OpWindow {
  name: string;
  start: number;
  end: number;
  /** What happened, from the logs (ms after the signal) and pids. */
  detail: Record<string, unknown>;
}

interface WindowStats {
  operation: string;
  windowMs: number;
  /** Successful connections that finished within the window. */
  served: number;
  /** Failed connections that overlapped the window (started before its end, ended after its start). */
  failed: number;
  failedByKind: Record<string, number>;
  /** Over the successful connections that overlapped the window. */
  p99us: number;
  maxus: number;
  /** The failures themselves (first 50), times relative to the window start. */
  failures: Array<{ kind: string; startMs: number; endMs: number; latencyMs: number; clientPort: number }>;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.round(p * (sorted.length - 1))]!;
}

function windowStats(name: string, records: ConnRecord[], inWindow: (r: ConnRecord) => boolean, servedIn: (r: ConnRecord) => boolean, span: number, origin: number): WindowStats {
  const lat: number[] = [];
  const failedByKind: Record<string, number> = Object.fromEntries(KINDS.map((k) => [k, 0]));
  const failures: WindowStats['failures'] = [];
  let served = 0;
  let failed = 0;
  for (const r of records) {
    if (r.status === 0 && servedIn(r)) served++;
    if (!inWindow(r)) continue;
    if (r.status === 0) {
      lat.push((r.end - r.start) * 1000);
    } else {
      failed++;
      const kind = KINDS[r.status - 1] ?? `status${r.status}`;
      failedByKind[kind] = (failedByKind[kind] ?? 0) + 1;
      if (failures.length < 50) {
        failures.push({
          kind,
          startMs: +(r.start - origin).toFixed(1),
          endMs: +(r.end - origin).toFixed(1),
          latencyMs: +(r.end - r.start).toFixed(1),
          clientPort: r.port,
        });
      }
    }
  }
  lat.sort((a, b) => a - b);
  return { operation: name, windowMs: span, served, failed, failedByKind, p99us: pct(lat, 0.99), maxus: lat.length ? lat[lat.length - 1]! : NaN, failures };
}

function kindsText(byKind: Record<string, number>): string {
  const parts = Object.entries(byKind).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`);
  return parts.length ? parts.join(', ') : 'none';
}

// ---- the scenario ----

export async function opsScenario(opts: OpsOptions, failures: string[]): Promise<unknown> {
  const { log } = opts;
  const binary = buildLoadgen();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'raas-ops-'));
  const pidFile = path.join(tmp, 'raas.pid');
  const rawFile = path.join(tmp, 'conns.bin');
  const port = await freePort();
  const procs = new Processes();
  const roots = new Set<number>();
  const logs = new LogWatch((e) => {
    // Every pid a log line names is a RAAS process to account for at the end.
    const role = e.fields.role ?? '?';
    if (e.fields.pid) procs.add(Number(e.fields.pid), role);
    if (e.fields.worker_pid) procs.add(Number(e.fields.worker_pid), 'worker');
    if (e.fields.new_master_pid) {
      procs.add(Number(e.fields.new_master_pid), 'master');
      roots.add(Number(e.fields.new_master_pid));
    }
  });
  const tail: string[] = [];
  const onLine = (line: string): void => {
    tail.push(line);
    if (tail.length > 40) tail.shift();
    logs.feed(line);
  };

  const args = [RAAS_CLI, '--listen', `${HOST}:${port}`, '--workers', String(opts.workers), '--pid', pidFile, '--upgrade-handover', 'auto'];
  const master = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const masterPid = master.pid;
  if (masterPid === undefined) throw new Error('ops: spawn of RAAS failed');
  let masterExit: { at: number; code: number | null; signal: string | null } | undefined;
  const masterExited = new Promise<void>((resolve) =>
    master.once('exit', (code, signal) => ((masterExit = { at: Date.now(), code, signal }), resolve())),
  );
  procs.add(masterPid, 'master');
  roots.add(masterPid);
  // The pipes stay open as long as any master (the new one inherits them) writes to them.
  for (const stream of [master.stdout!, master.stderr!]) {
    stream.setEncoding('utf8');
    stream.on('data', lineSplitter(onLine));
  }
  const scanTimer = setInterval(() => procs.scan([...roots]), 200);

  const windows: OpWindow[] = [];
  let summary: Summary | undefined;
  let records: ConnRecord[] | undefined;
  let startWallMs = NaN;
  let finalStop: Record<string, unknown> = {};
  let error: Error | undefined;
  let loadgen: LoadgenStream | undefined;
  let cleaned: Promise<Record<string, unknown>> | undefined;
  const cleanup = (): Promise<Record<string, unknown>> =>
    (cleaned ??= (async () => {
      clearInterval(scanTimer);
      // The load generator first (SIGTERM: it still writes its records), then the masters.
      if (loadgen && loadgen.child.exitCode === null && loadgen.child.signalCode === null) {
        loadgen.child.kill('SIGTERM');
        const ended = await Promise.race([loadgen.done.then(() => true, () => true), expiry(5000).then(() => false)]);
        if (!ended) loadgen.child.kill('SIGKILL');
      }
      if (loadgen && records === undefined && fs.existsSync(rawFile) && Number.isFinite(startWallMs)) {
        try {
          records = readRecords(rawFile, startWallMs);
        } catch {
          // a partial file from a killed load generator
        }
      }
      procs.scan([...roots]);
      // QUIT every master still alive (ours, and any the pid files name that we know of).
      const masters = procs.present().filter((p) => p.role === 'master' && p.state !== 'Z');
      for (const m of masters) {
        try {
          process.kill(m.pid, 'SIGQUIT');
        } catch {
          // gone meanwhile
        }
      }
      const deadline = Date.now() + STOP_TIMEOUT_MS;
      while (procs.present().length > 0 && Date.now() < deadline) await sleep(50);
      const killed: number[] = [];
      for (const p of procs.present()) {
        if (p.state === 'Z') continue;
        killed.push(p.pid);
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
      const killDeadline = Date.now() + 3000;
      while (procs.present().length > 0 && Date.now() < killDeadline) await sleep(50);
      const left = procs.present();
      fs.rmSync(tmp, { recursive: true, force: true });
      return {
        processesSeen: procs.all().length,
        sigkilled: killed,
        stillPresent: left.map((p) => ({ pid: p.pid, role: p.role, state: p.state, ppid: p.ppid })),
      };
    })());
  const unregister = opts.onInterrupt(async () => void (await cleanup()));

  try {
    await logs.wait(0, (e) => e.fields.event === LOG.READY && e.fields.role === 'master' && e.fields.pid === String(masterPid), 20_000, 'ready line from the master').catch((err: Error) => {
      throw new Error(`${err.message}\n--- raas output (tail) ---\n${tail.join('\n')}`);
    });
    procs.scan([...roots]);
    log(`ops: master ${masterPid} ready on ${HOST}:${port}, ${opts.workers} workers; load: ${opts.conns} connections, ${opts.threads} loadgen threads`);

    loadgen = startLoadgen(binary, ['-h', HOST, '-p', String(port), '-c', String(opts.conns), '-T', String(opts.threads), '-d', '600', '-i', String(INTERVAL_MS), '-r', rawFile]);
    startWallMs = await loadgen.started;
    await sleep(WARMUP_MS + opts.quietMs);

    // (1) HUP: rolling reload, done when the master logs reload-done.
    {
      const from = logs.lines.length;
      const start = Date.now();
      process.kill(masterPid, 'SIGHUP');
      const done = await Promise.race([
        logs.wait(from, (e) => e.fields.pid === String(masterPid) && (e.fields.event === LOG.RELOAD_DONE || e.fields.event === LOG.RELOAD_ABORTED), OP_TIMEOUT_MS, 'reload-done after HUP'),
        masterExited.then(() => Promise.reject(new Error('the master exited during the HUP'))),
      ]);
      if (done.fields.event !== LOG.RELOAD_DONE) throw new Error(`HUP: ${done.raw}`);
      const reloadStart = logs.lines.slice(from).find((e) => e.fields.event === LOG.RELOAD_START);
      const detail: Record<string, unknown> = { gen: Number(done.fields.gen), reloadStartMs: reloadStart ? reloadStart.time - start : undefined };
      windows.push({ name: 'HUP (reload)', start, end: Math.max(done.time, start), detail });
      log(`ops: HUP: reload-done gen=${done.fields.gen} ${done.time - start} ms after the signal`);
    }
    await sleep(opts.quietMs);

    // (2) USR2 with automatic hand-over: done when the old master (our child) has exited.
    {
      const from = logs.lines.length;
      const start = Date.now();
      process.kill(masterPid, 'SIGUSR2');
      const reexec = await logs.wait(from, (e) => e.fields.pid === String(masterPid) && (e.fields.event === LOG.REEXEC_START || e.fields.event === LOG.REEXEC_IGNORED), OP_TIMEOUT_MS, 'reexec-start after USR2');
      if (reexec.fields.event !== LOG.REEXEC_START) throw new Error(`USR2: ${reexec.raw}`);
      const newPid = Number(reexec.fields.new_master_pid);
      const timeout = expiry(OP_TIMEOUT_MS).then(() => 'timeout' as const);
      const failed = logs.wait(from, (e) => e.fields.event === LOG.REEXEC_FAILED, OP_TIMEOUT_MS + 1000, '').then((e) => e, () => undefined);
      const outcome = await Promise.race([masterExited.then(() => 'exited' as const), timeout, failed.then((e) => (e ? e : 'timeout'))]);
      if (outcome === 'timeout') throw new Error(`USR2: the old master ${masterPid} has not exited ${OP_TIMEOUT_MS} ms after the signal`);
      if (typeof outcome === 'object') throw new Error(`USR2: ${outcome.raw}`);
      const end = masterExit!.at;
      const after = logs.lines.slice(from);
      const at = (pred: (e: LogEntry) => boolean): number | undefined => {
        const e = after.find(pred);
        return e ? e.time - start : undefined;
      };
      const pidNow = Number(fs.readFileSync(pidFile, 'utf8').trim());
      const detail: Record<string, unknown> = {
        oldMasterPid: masterPid,
        newMasterPid: newPid,
        pidFile: pidNow,
        oldbinLeft: fs.existsSync(`${pidFile}.oldbin`),
        oldMasterExit: masterExit,
        newMasterReadyMs: at((e) => e.fields.event === LOG.READY && e.fields.pid === String(newPid)),
        handoverMs: at((e) => e.fields.event === LOG.REEXEC_HANDOVER),
        oldMasterStoppedMs: at((e) => e.fields.event === LOG.STOPPED && e.fields.pid === String(masterPid)),
      };
      windows.push({ name: 'USR2 (hand-over)', start, end, detail });
      log(
        `ops: USR2: new master ${newPid} ready +${detail.newMasterReadyMs} ms, old master ${masterPid} exited ` +
          `+${end - start} ms (code=${masterExit!.code}); pid file names ${pidNow}`,
      );
      if (pidNow !== newPid) throw new Error(`USR2: pid file names ${pidNow}, the new master is ${newPid}`);
      if (masterExit!.code !== 0) throw new Error(`USR2: old master exited code=${masterExit!.code} signal=${masterExit!.signal}`);
    }
    await sleep(opts.quietMs);

    loadgen.child.kill('SIGTERM');
    summary = await loadgen.done;
    records = readRecords(rawFile, startWallMs);

    // Stop the final master with QUIT, by the pid in the pid file, and wait for it and its workers.
    procs.scan([...roots]);
    const finalPid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    if (!procs.isAlive(finalPid)) throw new Error(`pid file names ${finalPid}, which is not a RAAS master we started`);
    const quitFrom = logs.lines.length;
    const quitAt = Date.now();
    process.kill(finalPid, 'SIGQUIT');
    const deadline = quitAt + STOP_TIMEOUT_MS;
    // When the master became a zombie (exited, not yet reaped: its parent is now init) and went.
    let zombieMs: number | undefined;
    let present = procs.present();
    while (present.length > 0 && Date.now() < deadline) {
      await sleep(10);
      present = procs.present();
      if (zombieMs === undefined && present.some((p) => p.pid === finalPid && p.state === 'Z')) zombieMs = Date.now() - quitAt;
    }
    const stopped = logs.lines.slice(quitFrom).find((e) => e.fields.event === LOG.STOPPED && e.fields.pid === String(finalPid));
    finalStop = {
      masterPid: finalPid,
      stoppedLogMs: stopped ? stopped.time - quitAt : undefined,
      masterZombieMs: zombieMs,
      allGoneMs: present.length === 0 ? Date.now() - quitAt : undefined,
      pidFileRemoved: !fs.existsSync(pidFile),
      stillPresent: present.map((p) => ({ pid: p.pid, role: p.role, state: p.state, ppid: p.ppid })),
    };
    if (present.length > 0) {
      throw new Error(`after QUIT to ${finalPid}: still present ${present.map((p) => `${p.pid}(${p.role},${p.state},ppid ${p.ppid})`).join(' ')}`);
    }
    log(
      `ops: QUIT ${finalPid}: master logged stopped +${finalStop.stoppedLogMs} ms` +
        (zombieMs === undefined ? '' : `, zombie (awaiting init) seen +${zombieMs} ms`) +
        `; every process gone (${procs.all().length} seen) +${finalStop.allGoneMs} ms`,
    );
  } catch (err) {
    error = err as Error;
  } finally {
    const reaped = await cleanup();
    unregister();
    finalStop = { ...finalStop, cleanup: reaped };
    const still = reaped.stillPresent as unknown[];
    if (still.length > 0) failures.push(`ops: processes left after cleanup: ${JSON.stringify(still)}`);
    if ((reaped.sigkilled as number[]).length > 0) log(`ops: cleanup had to SIGKILL ${JSON.stringify(reaped.sigkilled)}`);
  }
  if (error) {
    failures.push(`ops: ${error.message}`);
    log(failures[failures.length - 1]!);
  }
  if (summary === undefined && loadgen) summary = await loadgen.done.catch(() => undefined);
  if (!records) {
    console.log(`\nOPS: failed before any figure: ${error?.message.split('\n')[0] ?? 'no connection records'}`);
    return { error: error?.message, windows, finalStop, summary };
  }

  // ---- per-window figures from the per-connection records ----
  const measuredFrom = startWallMs + WARMUP_MS;
  const overlaps = (r: ConnRecord, w: OpWindow): boolean => r.start <= w.end && r.end >= w.start;
  const stats = windows.map((w) =>
    windowStats(w.name, records!, (r) => overlaps(r, w), (r) => r.end >= w.start && r.end <= w.end, w.end - w.start, w.start),
  );
  // Everything after the warm-up outside every window: what the operations are compared with.
  const quietEnd = records.reduce((m, r) => Math.max(m, r.end), measuredFrom);
  const quietMs = quietEnd - measuredFrom - windows.reduce((sum, w) => sum + (w.end - w.start), 0);
  const outside = (r: ConnRecord): boolean => r.start >= measuredFrom && !windows.some((w) => overlaps(r, w));
  const quiet = windowStats('quiet (no op)', records, outside, outside, quietMs, measuredFrom);
  const warm = windowStats('warm-up', records, (r) => r.start < measuredFrom && !windows.some((w) => overlaps(r, w)), () => false, WARMUP_MS, startWallMs);

  const rows = [...stats, quiet].map((st) => [
    st.operation,
    st.windowMs.toFixed(0),
    String(st.served),
    st.windowMs > 0 ? ((st.served * 1000) / st.windowMs).toFixed(0) : '-',
    String(st.failed),
    fmtUs(st.p99us),
    fmtUs(st.maxus),
  ]);
  console.log(
    `\nOPS: RAAS line protocol, ${opts.workers} workers, --upgrade-handover auto, under load (C loadgen, ${opts.conns} connections, ` +
      `${opts.threads} threads); window = signal -> reload-done (HUP) / old master exited (USR2); ${opts.quietMs} ms quiet around each`,
  );
  console.log(table(['operation', 'window ms', 'served', 'conns/s', 'failed', 'p99', 'worst'], rows));
  console.log('(served: connections answered within the window; failed, p99, worst: connections in flight at any time in it)');
  for (const st of [...stats, quiet, warm]) {
    if (st.failed === 0) continue;
    console.log(`  ${st.operation}: failed ${st.failed} (${kindsText(st.failedByKind)}); first ones (ms from window start, client port):`);
    for (const f of st.failures.slice(0, 10)) {
      console.log(`    ${f.kind} started ${f.startMs} ended ${f.endMs} after ${f.latencyMs} ms, port ${f.clientPort}`);
    }
    failures.push(`ops: ${st.failed} connection(s) failed in ${st.operation}: ${kindsText(st.failedByKind)}`);
  }
  // Cross-check from the live interval lines: the intervals overlapping each window.
  for (const w of windows) {
    const ivs = (loadgen?.intervals ?? []).filter((iv) => startWallMs + iv.t0Ms <= w.end && startWallMs + iv.t1Ms >= w.start);
    w.detail.intervalView = {
      intervals: ivs.length,
      fromMs: ivs.length ? Math.round(startWallMs + ivs[0]!.t0Ms - w.start) : undefined,
      toMs: ivs.length ? Math.round(startWallMs + ivs[ivs.length - 1]!.t1Ms - w.start) : undefined,
      conns: ivs.reduce((n, iv) => n + iv.conns, 0),
      errors: ivs.reduce((n, iv) => n + iv.errors, 0),
      maxus: ivs.reduce((m, iv) => Math.max(m, iv.maxus), 0),
    };
    log(`ops: ${w.name}: ${JSON.stringify(w.detail)}`);
  }
  if (summary && summary.errors > 0) {
    const inWindows = stats.reduce((n, st) => n + st.failed, 0) + quiet.failed + warm.failed;
    log(`ops: the load generator counted ${summary.errors} error(s) in all (${kindsText(summary.errorsByKind)}), ${inWindows} attributed above`);
  }
  // Worker exits and anything above info level, for diagnosing failures.
  const notable = logs.lines.filter((e) => e.fields.level !== 'info' || e.fields.event === LOG.WORKER_EXIT);
  const origin = windows[0]?.start ?? startWallMs;
  return {
    settings: { conns: opts.conns, threads: opts.threads, workers: opts.workers, quietMs: opts.quietMs, warmupMs: WARMUP_MS, intervalMs: INTERVAL_MS },
    windows: windows.map((w, i) => ({ ...w, stats: stats[i] })),
    quiet,
    warmup: warm,
    loadgen: summary,
    finalStop,
    notableLogs: notable.map((e) => ({ ms: e.time - origin, line: e.raw })),
    // The load generator's live interval lines: [ms from the first signal, conns, errors, p99 us, max us].
    intervals: (loadgen?.intervals ?? []).map((iv) => [
      Math.round(startWallMs + iv.t1Ms - origin),
      iv.conns,
      iv.errors,
      iv.p99us,
      iv.maxus,
    ]),
  };
}
