// The RAAS benchmark (`npm run bench`): RAAS against its peers measured in the same run, on every
// Node line asked for, printed as one table and written to bench/.build/results.json.
// A benchmark, never a test: it asserts nothing.
// Runs in: the bench orchestrator process; servers, loadgen and wrk are child processes.
//
// Usage: node dist/bench/run.js [line] [unicode] [http] [ops] [memory]  (default: all five)
//   line: RAAS (native and JavaScript line paths), the C prefork peer, the story's Ruby prefork
//     server, Node cluster round-robin and shared socket; C load generator.
//   unicode: RAAS with a mixed non-ASCII line vs an ASCII line of the same byte length.
//   http: RAAS built-in /reverse, RAAS --app (bench/peers/app.mjs), plain node:http workers
//     sharing one socket (cluster-shared), cluster round-robin; wrk, keep-alive and close.
//   ops: RAAS alone under load through a HUP and a USR2 hand-over (bench/ops.ts).
//   memory: PSS and private memory of RAAS idle (with and without its worker watchdog) against
//     Node cluster (bench/memory.ts); `npm run bench -- memory` runs it alone (a few minutes; BENCH_MEMORY_IDLE_S=0: about a minute).
// Scheduler: the kernel's autogroup (kernel.sched_autogroup_enabled) schedules each session as a
// group of its own. RAAS workers lead sessions of their own (signal isolation, docs/SIGNALS.md), so
// on a machine where it is on, each worker competes with the load generator as a separate group:
// measured +10-20 % CPU per connection and up to -15 % rate against peers whose processes share the
// load generator's session. Production servers mostly run in cgroups with the CPU controller
// (containers, systemd units with CPUWeight=), where autogroup does not apply; so the bench turns
// it off for its runs when it may (root), puts back the old value at the end, and records it.
// BENCH_AUTOGROUP=keep measures as is.
// Env: RAAS_BENCH_NODES (20,22,26: Node majors; other than this process's come from the npm
//      registry's `node` package), BENCH_SECONDS (10) per measured run, BENCH_CONNS (50),
//      BENCH_ROUNDS (2, order reversed every other round), BENCH_LOADGEN_THREADS (2),
//      BENCH_OPS_QUIET_MS (1500), BENCH_RAAS_CLI (default dist/src/cli.js), BENCH_AUTOGROUP (keep:
//      leave kernel.sched_autogroup_enabled as it is), BENCH_MEMORY_ROUNDS (3) and BENCH_MEMORY_IDLE_S (20; 0: no idle reading) for `memory`.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { buildLoadgen, runLoadgen, BUILD_DIR } from './loadgen.js';
import { fmtRatio, fmtUs, table } from './format.js';
import { memoryScenario } from './memory.js';
import { opsScenario } from './ops.js';
import { cpuDelta, privateBytes, rssBytes, sampleTree, workerCpu } from './proc-cpu.js';
import { buildPeerC, ensureRuby } from './peers.js';
import { BEFORE_CLI, freePort, startServer, usesNode, RAAS_CLI, type RunningServer, type ServerKind } from './servers.js';
import { ensureWrk, runWrk } from './wrk.js';

const SECONDS = envNumber('BENCH_SECONDS', 10);
const CONNS = envNumber('BENCH_CONNS', 50);
const ROUNDS = envNumber('BENCH_ROUNDS', 2);
// One loadgen thread caps RAAS on 2 cores (~24k vs ~31k conns/s with 2); the baseline is unaffected.
const LOADGEN_THREADS = envNumber('BENCH_LOADGEN_THREADS', 2);
const WORKERS = 2;
const WARMUP_SECONDS = 1;
const OPS_QUIET_MS = envNumber('BENCH_OPS_QUIET_MS', 1500);
const HOST = '127.0.0.1';

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${raw}`);
  return n;
}

function envNonNegative(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === '0') return 0;
  return envNumber(name, fallback);
}

const log = (msg: string): void => void process.stderr.write(`bench: ${msg}\n`);

// ---- Node lines ----

interface NodeLine {
  major: string;
  path: string;
  version: string;
}

/** The Node binary of each major asked for: this process's, or the npm registry's `node` package. */
function nodeLines(): NodeLine[] {
  const majors = (process.env.RAAS_BENCH_NODES ?? '20,22,26').split(',').map((m) => m.trim()).filter(Boolean);
  const out: NodeLine[] = [];
  for (const major of majors) {
    if (!/^\d+$/.test(major)) throw new Error(`RAAS_BENCH_NODES: want majors like 20,22,26, got ${major}`);
    if (process.versions.node.split('.')[0] === major) {
      out.push({ major, path: process.execPath, version: process.version });
      continue;
    }
    log(`fetching node@${major} (npm exec --package=node@${major})`);
    const printed = execFileSync(
      'npm',
      ['exec', '--yes', `--package=node@${major}`, '--', 'node', '-p', 'process.execPath + " " + process.version'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
    ).trim().split('\n').pop()!;
    const [binary, version] = printed.split(' ');
    out.push({ major, path: binary!, version: version! });
  }
  return out;
}

// ---- the scheduler's autogroup (see the top of this file) ----

const AUTOGROUP = '/proc/sys/kernel/sched_autogroup_enabled';
let autogroupRestore: string | null = null;
let autogroupState = 'unknown';

/** Turns autogroup off for the run when it is on and we may; returns the state runs see. */
function settleAutogroup(): string {
  let value: string;
  try {
    value = fs.readFileSync(AUTOGROUP, 'utf8').trim();
  } catch {
    return 'absent';
  }
  if (value !== '1') return value === '0' ? 'off' : value;
  if (process.env.BENCH_AUTOGROUP === 'keep') {
    log('autogroup on (BENCH_AUTOGROUP=keep): each RAAS worker is scheduled as a group of its own');
    return 'on (kept)';
  }
  try {
    fs.writeFileSync(AUTOGROUP, '0');
    autogroupRestore = value;
    log(`autogroup turned off for the runs (${AUTOGROUP} back to ${value} at the end)`);
    return 'off (for the bench)';
  } catch (err) {
    log(`warning: autogroup is on and cannot be turned off (${(err as Error).message}): RAAS workers, each leading a session, ` +
      'are scheduled as groups of their own against the load generator and measure slower than in a container');
    return 'on';
  }
}

function restoreAutogroup(): void {
  if (autogroupRestore === null) return;
  try {
    fs.writeFileSync(AUTOGROUP, autogroupRestore);
  } catch (err) {
    log(`warning: could not put ${AUTOGROUP} back to ${autogroupRestore}: ${(err as Error).message}`);
  }
  autogroupRestore = null;
}
process.once('exit', restoreAutogroup);

// ---- running servers, stopped on the way out whatever happens ----

const running = new Set<{ stop(): Promise<void> }>();

async function withServer<T>(kind: ServerKind, listen: string[], node: NodeLine | undefined, fn: (s: RunningServer) => Promise<T>): Promise<T> {
  // RAAS runs with its admin listener: the per-worker counts come from the master's /status.
  const adminPort = kind.startsWith('raas') ? await freePort() : undefined;
  const server = await startServer({ kind, listen, workers: WORKERS, node: node?.path, adminPort });
  running.add(server);
  try {
    return await fn(server);
  } finally {
    await server.stop();
    running.delete(server);
  }
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    log(`${sig}: stopping servers`);
    void Promise.allSettled([...running].map((s) => s.stop())).then(() => process.exit(130));
  });
}

// ---- one measured run ----

type Scenario = 'line' | 'unicode-mixed' | 'unicode-ascii' | 'http-keep-alive' | 'http-close';

interface Run {
  scenario: Scenario;
  /** Node version, or '-' for the C and Ruby peers. */
  node: string;
  server: ServerKind;
  round: number;
  /** Connections (line) or requests (HTTP) per second. */
  rate: number;
  p50us: number;
  p99us: number;
  count: number;
  cpuUsPerOp: number;
  errors: number;
  /** CPU microseconds of each worker during the window: the share of the work each took. */
  workerCpuUs: number[];
  /** RAAS: connections each worker (slot) accepted in the window, from the master's /status. */
  workerConns?: number[];
  /** RAAS: requests each worker answered in the window (line: connections answered). */
  workerRequests?: number[];
  /**
   * RAAS, HTTP keep-alive: connections each worker held open, averaged over the second half of
   * the window (one sample a beat), largest first.
   */
  workerOpen?: number[];
  /**
   * Max/min of the share of connections: for RAAS, of workerOpen (keep-alive: the clients'
   * connections, where they ended up) or workerConns (accepted in the window); for the peers,
   * which count nothing, of workerCpuUs.
   */
  balance: number;
  rssMiB: { master?: number; idleWorker?: number; loadedWorker?: number };
  /** Memory only that process holds (see privateBytes): what one more worker costs. */
  privateMiB: { idleWorker?: number; loadedWorker?: number };
}

/** The largest worker's memory, by RSS. */
interface WorkerMemory {
  rss: number;
  private: number | undefined;
}

const MIB = 1024 * 1024;
const mib = (b: number | undefined): number | undefined => (b === undefined ? undefined : Math.round((b / MIB) * 10) / 10);

function workerPids(server: RunningServer): number[] {
  return [...sampleTree(server.pid).values()].map((st) => st.pid).filter((pid) => pid !== server.pid);
}

type SlotCounts = Map<number, { connections: number; requests: number }>;

/** The parts of RAAS's /status (docs/OBSERVABILITY.md) the bench reads. */
interface Status {
  slots: { slot: number; connections: number; requests: number }[];
  workers: { slot: number; openConnections: number | null }[];
}

async function readStatus(adminPort: number): Promise<Status> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/status`);
  return (await res.json()) as Status;
}

/** Per-slot counters from RAAS's /status, once they have settled (a beat carries them, 1 s apart). */
async function settledSlotCounts(server: RunningServer): Promise<SlotCounts | undefined> {
  const { adminPort } = server;
  if (adminPort === undefined) return undefined;
  const read = async (): Promise<SlotCounts> =>
    new Map((await readStatus(adminPort)).slots.map((s) => [s.slot, { connections: s.connections, requests: s.requests }]));
  const same = (a: SlotCounts, b: SlotCounts): boolean =>
    a.size === b.size && [...a].every(([slot, c]) => b.get(slot)?.connections === c.connections && b.get(slot)?.requests === c.requests);
  let last = await read();
  for (let i = 0; i < 10; i++) {
    await new Promise((r) => setTimeout(r, 600));
    const now = await read();
    if (same(now, last)) return now;
    last = now;
  }
  log(`  warning: ${server.kind} counters still moving 6 s after the load`);
  return last;
}

/** RAAS: each slot's open connections now (its last beat). */
async function openConnections(adminPort: number): Promise<Map<number, number> | undefined> {
  try {
    const { workers } = await readStatus(adminPort);
    return new Map(workers.flatMap((w) => (w.openConnections === null ? [] : [[w.slot, w.openConnections] as const])));
  } catch {
    return undefined;
  }
}

/**
 * RAAS, keep-alive: where the clients' connections are, sampled once a beat over the second half of
 * the window and averaged per worker, largest first. One sample can land half-way through a
 * rebalancing shed (a few connections closed, not yet reconnected); the mean is the share each
 * worker held.
 */
function sampleOpenShares(server: RunningServer): () => Promise<number[] | undefined> {
  const { adminPort } = server;
  if (adminPort === undefined) return async () => undefined;
  const sums = new Map<number, { total: number; samples: number }>();
  const pending: Promise<void>[] = [];
  const sample = (): void => {
    pending.push(
      openConnections(adminPort).then((open) => {
        for (const [slot, n] of open ?? []) {
          const s = sums.get(slot) ?? { total: 0, samples: 0 };
          s.total += n;
          s.samples++;
          sums.set(slot, s);
        }
      }),
    );
  };
  let interval: NodeJS.Timeout | undefined;
  // From mid-window to 0.5 s before the end: the load is steady there and still running.
  const start = setTimeout(() => {
    sample();
    interval = setInterval(sample, OPEN_SAMPLE_MS);
  }, (SECONDS * 1000) / 2);
  const stopAt = setTimeout(() => clearInterval(interval), SECONDS * 1000 - 500);
  return async () => {
    clearTimeout(start);
    clearTimeout(stopAt);
    clearInterval(interval);
    await Promise.all(pending);
    if (sums.size === 0) return undefined;
    return [...sums.values()].map((s) => Math.round((s.total / s.samples) * 10) / 10).sort((a, b) => b - a);
  };
}

/** A worker reports its open connections with each beat, once a second. */
const OPEN_SAMPLE_MS = 1000;

function slotDelta(before: SlotCounts, after: SlotCounts, field: 'connections' | 'requests'): number[] {
  return [...after].map(([slot, c]) => c[field] - (before.get(slot)?.[field] ?? 0)).sort((a, b) => b - a);
}

/** Measures `load` on a started server: CPU of the tree, per-worker shares, RSS idle and loaded. */
async function measure(
  server: RunningServer,
  base: Pick<Run, 'scenario' | 'node' | 'server' | 'round'>,
  load: () => Promise<{ rate: number; p50us: number; p99us: number; count: number; errors: number; detail: string }>,
  idleWorker: WorkerMemory | undefined,
  /** Keep-alive: also read where the connections are over the second half of the load. */
  openShares = false,
): Promise<Run> {
  const countsBefore = await settledSlotCounts(server);
  const before = sampleTree(server.pid);
  const openSampler = openShares ? sampleOpenShares(server) : null;
  const r = await load();
  const workerOpen = openSampler ? await openSampler() : undefined;
  const after = sampleTree(server.pid);
  const loadedWorker = largestWorker(server);
  const countsAfter = countsBefore && (await settledSlotCounts(server));
  const cpu = cpuDelta(before, after);
  const perWorker = [...workerCpu(before, after, server.pid).values()].sort((a, b) => b - a);
  const conns = countsBefore && countsAfter ? slotDelta(countsBefore, countsAfter, 'connections') : undefined;
  const requests = countsBefore && countsAfter ? slotDelta(countsBefore, countsAfter, 'requests') : undefined;
  const maxMin = (xs: number[]): number => (xs.length > 1 ? xs[0]! / Math.max(1, xs[xs.length - 1]!) : 1);
  const run: Run = {
    ...base,
    rate: r.rate,
    p50us: r.p50us,
    p99us: r.p99us,
    count: r.count,
    cpuUsPerOp: r.count > 0 ? cpu.cpuUs / r.count : NaN,
    errors: r.errors,
    workerCpuUs: perWorker.map(Math.round),
    workerConns: conns,
    workerRequests: requests,
    workerOpen,
    balance: workerOpen ? maxMin(workerOpen) : conns ? maxMin(conns) : maxMin(perWorker),
    rssMiB: {
      master: mib(rssBytes(server.pid)),
      idleWorker: mib(idleWorker?.rss),
      loadedWorker: mib(loadedWorker?.rss),
    },
    privateMiB: { idleWorker: mib(idleWorker?.private), loadedWorker: mib(loadedWorker?.private) },
  };
  log(
    `${base.scenario} ${base.server} node ${base.node} round ${base.round + 1}: ${r.rate.toFixed(0)}/s, p50 ${fmtUs(r.p50us)}, ` +
      `p99 ${fmtUs(r.p99us)}, ${run.cpuUsPerOp.toFixed(1)} CPU us/op (${cpu.processes} processes), errors ${r.errors} ${r.detail}, ` +
      `worker CPU ${run.workerCpuUs.join('/')} us` +
      (conns ? `, worker connections ${conns.join('/')}, requests ${requests!.join('/')}` : '') +
      (workerOpen ? `, open (mean of the second half) ${workerOpen.join('/')}` : '') +
      ` (max/min ${run.balance.toFixed(2)}), RSS ${JSON.stringify(run.rssMiB)}, private ${JSON.stringify(run.privateMiB)}`,
  );
  if (cpu.vanished > 0) log(`  warning: ${cpu.vanished} server process(es) exited during the window: CPU undercounted`);
  return run;
}

function largestWorker(server: RunningServer): WorkerMemory | undefined {
  let largest: { pid: number; rss: number } | undefined;
  for (const pid of workerPids(server)) {
    const rss = rssBytes(pid) ?? 0;
    if (largest === undefined || rss > largest.rss) largest = { pid, rss };
  }
  return largest && { rss: largest.rss, private: privateBytes(largest.pid) };
}

// A mixed line: accents, an emoji with a skin tone, a flag; and an ASCII line of as many bytes.
const MIXED = 'Crème brûlée à la française 👍🏽 🇫🇷 déjà vu, naïve café';
const MIXED_REPLY = Array.from(new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(MIXED), (s) => s.segment).reverse().join('');
const ASCII_SAME_LENGTH = 'hello world, the quick brown fox jumps over the lazy dog! '.repeat(4).slice(0, Buffer.byteLength(MIXED));

async function lineRun(kind: ServerKind, node: NodeLine | undefined, round: number, scenario: Scenario): Promise<Run> {
  const port = await freePort();
  const payload = scenario === 'unicode-mixed' ? { payload: MIXED, expected: MIXED_REPLY } : scenario === 'unicode-ascii' ? { payload: ASCII_SAME_LENGTH } : {};
  return withServer(kind, [`${HOST}:${port}`], node, async (server) => {
    const idle = largestWorker(server);
    await runLoadgen({ port, seconds: WARMUP_SECONDS, conns: CONNS, threads: LOADGEN_THREADS, ...payload });
    return measure(server, { scenario, node: node?.version ?? '-', server: kind, round }, async () => {
      const l = await runLoadgen({ port, seconds: SECONDS, conns: CONNS, threads: LOADGEN_THREADS, ...payload });
      return { rate: l.connsPerSec, p50us: l.p50us, p99us: l.p99us, count: l.conns, errors: l.errors, detail: JSON.stringify(l.errorsByKind) };
    }, idle);
  });
}

async function httpRuns(wrk: string, kind: ServerKind, node: NodeLine, round: number): Promise<Run[]> {
  const port = await freePort();
  const url = `http://${HOST}:${port}/reverse?s=hello`;
  return withServer(kind, [`http://${HOST}:${port}`], node, async (server) => {
    const idle = largestWorker(server);
    const out: Run[] = [];
    await runWrk({ wrk, url, seconds: WARMUP_SECONDS, conns: CONNS, threads: 2, close: false });
    for (const mode of ['keep-alive', 'close'] as const) {
      out.push(
        await measure(server, { scenario: `http-${mode}`, node: node.version, server: kind, round }, async () => {
          const w = await runWrk({ wrk, url, seconds: SECONDS, conns: CONNS, threads: 2, close: mode === 'close' });
          return { rate: w.rps, p50us: w.p50us, p99us: w.p99us, count: w.requests, errors: w.errors, detail: `(socket ${JSON.stringify(w.socketErrors)}, non-2xx ${w.non2xx})` };
        }, idle, mode === 'keep-alive'),
      );
    }
    return out;
  });
}

// ---- scenarios: every (server, node) pair once per round, the order reversed every other round ----

type Job = { kind: ServerKind; node: NodeLine | undefined; run: () => Promise<Run[]>; label: string };

function jobsFor(round: () => number, kinds: ServerKind[], nodes: NodeLine[], make: (k: ServerKind, n: NodeLine | undefined, r: number) => Promise<Run[]>, label: string): Job[] {
  const jobs: Job[] = [];
  for (const kind of kinds) {
    for (const node of usesNode(kind) ? nodes : [undefined]) {
      jobs.push({ kind, node, label: `${label} ${kind} ${node?.version ?? ''}`, run: () => make(kind, node, round()) });
    }
  }
  return jobs;
}

/** Best run per (scenario, node, server): the highest rate (noise on a shared machine only slows). */
function bestRuns(runs: readonly Run[]): Map<string, Run> {
  const best = new Map<string, Run>();
  for (const r of runs) {
    const key = `${r.scenario}|${r.node}|${r.server}`;
    const cur = best.get(key);
    if (!cur || r.rate > cur.rate) best.set(key, r);
  }
  return best;
}

type RunLookup = (scenario: Scenario, node: string, server: ServerKind) => Run | undefined;

/** Ratios of a run against its reference peers of the same scenario (and Node line), found by `get`. */
function versus(r: Run, get: RunLookup): Record<string, number> {
  const out: Record<string, number> = {};
  if (r.scenario === 'line' && r.server !== 'c-prefork' && r.server !== 'ruby') {
    const c = get('line', '-', 'c-prefork');
    const ruby = get('line', '-', 'ruby');
    if (ruby) out['rate/ruby'] = r.rate / ruby.rate;
    if (c) out['rate/c'] = r.rate / c.rate;
    if (c) out['cpu/c'] = r.cpuUsPerOp / c.cpuUsPerOp;
  } else if (r.scenario === 'unicode-mixed') {
    const ascii = get('unicode-ascii', r.node, r.server);
    if (ascii) out['rate/ascii'] = r.rate / ascii.rate;
  } else if (r.scenario.startsWith('http') && r.server !== 'cluster-shared') {
    const plain = get(r.scenario, r.node, 'cluster-shared');
    if (plain) out['rate/node:http'] = r.rate / plain.rate;
    if (plain) out['cpu/node:http'] = r.cpuUsPerOp / plain.cpuUsPerOp;
  }
  return out;
}

/**
 * The same ratios round by round (each run against the peers of its own round, which ran minutes
 * apart at most), then the median over rounds. This machine has slow and fast spells of a minute
 * or more: a best run can come from a fast spell one server had and its peer did not.
 */
function pairedVersus(r: Run, runs: readonly Run[]): Record<string, number> {
  const perRound = new Map<string, number[]>();
  for (const mine of runs) {
    if (mine.scenario !== r.scenario || mine.node !== r.node || mine.server !== r.server) continue;
    const sameRound: RunLookup = (scenario, node, server) =>
      runs.find((x) => x.round === mine.round && x.scenario === scenario && x.node === node && x.server === server);
    for (const [k, v] of Object.entries(versus(mine, sameRound))) perRound.set(k, [...(perRound.get(k) ?? []), v]);
  }
  return Object.fromEntries([...perRound].map(([k, vs]) => [k, median(vs)]));
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function printTable(runs: readonly Run[]): Record<string, unknown>[] {
  const best = bestRuns(runs);
  const bestOf: RunLookup = (scenario, node, server) => best.get(`${scenario}|${node}|${server}`);
  const rows: string[][] = [];
  const summary: Record<string, unknown>[] = [];
  for (const r of best.values()) {
    const vs = versus(r, bestOf);
    const paired = pairedVersus(r, runs);
    summary.push({ ...r, versus: vs, versusPaired: paired });
    rows.push([
      r.scenario,
      r.node,
      r.server,
      r.rate.toFixed(0),
      fmtUs(r.p50us),
      fmtUs(r.p99us),
      r.cpuUsPerOp.toFixed(1),
      String(r.errors),
      r.workerOpen
        ? `${r.workerOpen.join('/')} open ${fmtRatio(r.balance)}`
        : r.workerConns
        ? `${r.workerConns.join('/')} conns ${fmtRatio(r.balance)}`
        : `${r.workerCpuUs.map((us) => (us / 1e6).toFixed(2)).join('/')} CPU s ${fmtRatio(r.balance)}`,
      [r.rssMiB.master, r.rssMiB.idleWorker, r.rssMiB.loadedWorker].map((m) => (m === undefined ? '-' : m.toFixed(0))).join('/'),
      [r.privateMiB.idleWorker, r.privateMiB.loadedWorker].map((m) => (m === undefined ? '-' : m.toFixed(0))).join('/'),
      Object.entries(vs).map(([k, v]) => `${k} ${fmtRatio(v)} (${fmtRatio(paired[k])})`).join(', '),
    ]);
  }
  console.log(
    `\nRAAS and peers, ${WORKERS} workers, ${CONNS} connections in flight, ${SECONDS} s per run, best of ${ROUNDS} interleaved round(s) by rate\n` +
      `(rate: conn/s for line and unicode, req/s for http; CPU per connection or request, master + workers; ` +
      `worker shares: RAAS's connections accepted by each worker in the window (its /status; keep-alive: the ` +
      `connections each held open, averaged over the second half of the run), the peers' CPU seconds ` +
      `of each worker (they count nothing), and max/min; RSS MiB: master / worker idle / worker after the run; ` +
      `private MiB: the same workers' memory no other process shares (what one more worker costs); ` +
      `same-run ratios: best run against best run, in brackets the median over rounds of each round's own ratio; ` +
      `scheduler autogroup ${autogroupState})`,
  );
  console.log(
    table(['scenario', 'node', 'server', 'rate', 'p50', 'p99', 'CPU us/op', 'errors', 'worker shares', 'RSS MiB', 'private MiB', 'same-run ratios'], rows),
  );
  return summary;
}

// ---- main ----

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const known = ['line', 'unicode', 'http', 'ops', 'memory'];
  for (const a of args) if (!known.includes(a)) throw new Error(`unknown scenario ${a}: want some of ${known.join(', ')}`);
  const scenarios = new Set(args.length > 0 ? args : known);
  if (!fs.existsSync(RAAS_CLI)) log(`warning: ${RAAS_CLI} does not exist: RAAS runs will fail (build it first)`);
  if (process.env.BENCH_RAAS_CLI) log(`RAAS runner points at ${RAAS_CLI} (BENCH_RAAS_CLI): not the real RAAS`);
  const nodes = nodeLines();
  const autogroup = (autogroupState = settleAutogroup());
  log(
    `${os.cpus().length} CPUs, node lines ${nodes.map((n) => n.version).join(', ')}, ${SECONDS} s per run, ${CONNS} connections, ` +
      `${ROUNDS} round(s), ${WORKERS} workers, CPU from /proc (master + workers)`,
  );
  const failures: string[] = [];
  const results: Record<string, unknown> = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version, kernel: os.release(), autogroup },
    nodes: nodes.map((n) => n.version),
    settings: { seconds: SECONDS, conns: CONNS, rounds: ROUNDS, loadgenThreads: LOADGEN_THREADS, workers: WORKERS, warmupSeconds: WARMUP_SECONDS, opsQuietMs: OPS_QUIET_MS, raasCli: RAAS_CLI, pick: 'best run by rate' },
  };
  let round = 0;
  const jobs: Job[] = [];
  if (scenarios.has('line') || scenarios.has('unicode')) buildLoadgen();
  if (scenarios.has('line')) {
    const kinds: ServerKind[] = ['raas', 'raas-js', 'cluster-shared', 'cluster-rr', ...(BEFORE_CLI === null ? [] : ['raas-before' as const])];
    if (buildPeerC(log)) kinds.push('c-prefork');
    else failures.push('line c-prefork: no C compiler');
    if (ensureRuby(log)) kinds.push('ruby');
    else failures.push('line ruby: ruby missing and not installable');
    jobs.push(...jobsFor(() => round, kinds, nodes, async (k, n, r) => [await lineRun(k, n, r, 'line')], 'line'));
  }
  if (scenarios.has('unicode')) {
    for (const scenario of ['unicode-mixed', 'unicode-ascii'] as const) {
      jobs.push(...jobsFor(() => round, ['raas'], nodes, async (k, n, r) => [await lineRun(k, n, r, scenario)], scenario));
    }
  }
  if (scenarios.has('http')) {
    const wrk = ensureWrk(log);
    if (!wrk) failures.push('http: wrk is not installed and could not be installed (apt-get install wrk)');
    else {
      const kinds: ServerKind[] = ['raas', 'raas-app', 'cluster-shared', 'cluster-rr'];
      if (BEFORE_CLI !== null) kinds.push('raas-before', 'raas-app-before');
      jobs.push(...jobsFor(() => round, kinds, nodes, (k, n, r) => httpRuns(wrk, k, n!, r), 'http'));
    }
  }
  // Rounds: every job once per round, the order reversed every other round (A B C, C B A, ...).
  const runs: Run[] = [];
  for (round = 0; round < ROUNDS && jobs.length > 0; round++) {
    const ordered = round % 2 === 0 ? jobs : [...jobs].reverse();
    for (const job of ordered) {
      try {
        runs.push(...(await job.run()));
      } catch (err) {
        failures.push(`${job.label} round ${round + 1}: ${(err as Error).message}`);
        log(failures[failures.length - 1]!);
      }
    }
  }
  if (runs.length > 0) {
    results.runs = runs;
    results.best = printTable(runs);
  }
  if (scenarios.has('ops')) {
    results.ops = await opsScenario(
      {
        conns: CONNS,
        threads: LOADGEN_THREADS,
        workers: WORKERS,
        quietMs: OPS_QUIET_MS,
        log,
        onInterrupt: (stop) => {
          const entry = { stop };
          running.add(entry);
          return () => void running.delete(entry);
        },
      },
      failures,
    );
  }
  if (scenarios.has('memory')) {
    results.memory = await memoryScenario({ nodes, rounds: envNumber('BENCH_MEMORY_ROUNDS', 3), workers: WORKERS, idleSeconds: envNonNegative('BENCH_MEMORY_IDLE_S', 20), log }, failures);
  }
  results.failures = failures;
  fs.mkdirSync(BUILD_DIR, { recursive: true });
  const file = path.join(BUILD_DIR, 'results.json');
  fs.writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  console.log(`\nresults: ${path.relative(process.cwd(), file) || file}`);
  if (failures.length > 0) {
    console.log(`${failures.length} run(s) failed:\n  ${failures.map((f) => f.split('\n')[0]).join('\n  ')}`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    log(`failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    await Promise.allSettled([...running].map((s) => s.stop()));
    process.exit(1);
  },
);
