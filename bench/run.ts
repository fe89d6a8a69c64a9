// The RAAS benchmark (`npm run bench`): RAAS vs a Node `cluster` round-robin baseline measured in
// the same run, line protocol (C load generator) and HTTP (wrk), printed as a table with ratios
// and written to bench/.build/results.json. A benchmark, never a test: it asserts nothing.
// Runs in: the bench orchestrator process; servers, loadgen and wrk are child processes.
//
// Usage: node dist/bench/run.js [line] [http] [ops]  (default: all three)
//   ops: RAAS alone under load through a HUP and a USR2 hand-over (bench/ops.ts).
// Env: BENCH_SECONDS (10) per measured run, BENCH_CONNS (50), BENCH_ROUNDS (2: order A B B A),
//      BENCH_LOADGEN_THREADS (2), BENCH_OPS_QUIET_MS (1500: quiet time around each operation),
//      BENCH_RAAS_CLI (default dist/src/cli.js; point it elsewhere only to check the plumbing).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildLoadgen, runLoadgen, BUILD_DIR, type LoadgenResult } from './loadgen.js';
import { fmtRatio, fmtUs, table } from './format.js';
import { opsScenario } from './ops.js';
import { cpuDelta, sampleTree, type CpuDelta } from './proc-cpu.js';
import { freePort, startServer, RAAS_CLI, type RunningServer, type ServerKind } from './servers.js';
import { ensureWrk, runWrk, type WrkResult } from './wrk.js';

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

const log = (msg: string): void => void process.stderr.write(`bench: ${msg}\n`);

// ---- running servers, stopped on the way out whatever happens ----

const running = new Set<{ stop(): Promise<void> }>();

async function withServer<T>(kind: ServerKind, listen: string[], fn: (s: RunningServer) => Promise<T>): Promise<T> {
  const server = await startServer({ kind, listen, workers: WORKERS });
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

/** Server order per round: A B, then B A, ... (A B B A for 2 rounds) to spread drift evenly. */
function order(round: number): ServerKind[] {
  return round % 2 === 0 ? ['raas', 'baseline'] : ['baseline', 'raas'];
}

/** Samples the server's process tree CPU around `fn`. */
async function measured<T>(server: RunningServer, fn: () => Promise<T>): Promise<{ result: T; cpu: CpuDelta }> {
  const before = sampleTree(server.pid);
  const result = await fn();
  const after = sampleTree(server.pid);
  return { result, cpu: cpuDelta(before, after) };
}

// ---- line protocol scenario ----

interface LineRun {
  server: ServerKind;
  round: number;
  load: LoadgenResult;
  serverCpuUs: number;
  cpuUsPerConn: number;
  processes: number;
  vanished: number;
}

async function lineRun(kind: ServerKind, round: number): Promise<LineRun> {
  const port = await freePort();
  return withServer(kind, [`${HOST}:${port}`], async (server) => {
    await runLoadgen({ port, seconds: WARMUP_SECONDS, conns: CONNS, threads: LOADGEN_THREADS });
    const { result: load, cpu } = await measured(server, () => runLoadgen({ port, seconds: SECONDS, conns: CONNS, threads: LOADGEN_THREADS }));
    const run: LineRun = {
      server: kind,
      round,
      load,
      serverCpuUs: cpu.cpuUs,
      cpuUsPerConn: load.conns > 0 ? cpu.cpuUs / load.conns : NaN,
      processes: cpu.processes,
      vanished: cpu.vanished,
    };
    log(
      `line ${kind} round ${round + 1}: ${load.connsPerSec.toFixed(0)} conns/s, p50 ${fmtUs(load.p50us)}, ` +
        `p99 ${fmtUs(load.p99us)}, ${run.cpuUsPerConn.toFixed(1)} CPU us/conn (${cpu.processes} processes), ` +
        `errors ${load.errors} ${JSON.stringify(load.errorsByKind)}, loadgen CPU ${(load.clientCpuUs / 1e6).toFixed(2)} s`,
    );
    if (cpu.vanished > 0) log(`  warning: ${cpu.vanished} server process(es) exited during the window: CPU undercounted`);
    return run;
  });
}

/** Best run of a server: the highest throughput (noise on a shared machine only ever slows down). */
function best<T>(runs: T[], score: (r: T) => number): T | undefined {
  let out: T | undefined;
  for (const r of runs) if (out === undefined || score(r) > score(out)) out = r;
  return out;
}

async function lineScenario(failures: string[]): Promise<unknown> {
  buildLoadgen();
  const runs: LineRun[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of order(round)) {
      try {
        runs.push(await lineRun(kind, round));
      } catch (err) {
        failures.push(`line ${kind} round ${round + 1}: ${(err as Error).message}`);
        log(failures[failures.length - 1]!);
      }
    }
  }
  const pick = (kind: ServerKind): LineRun | undefined =>
    best(runs.filter((r) => r.server === kind), (r) => r.load.connsPerSec);
  const base = pick('baseline');
  const rows: string[][] = [];
  const summary: Record<string, unknown> = {};
  for (const kind of ['raas', 'baseline'] as const) {
    const r = pick(kind);
    if (!r) {
      rows.push([kind, 'failed', '-', '-', '-', '-', '-', '-']);
      continue;
    }
    const tputRatio = base ? r.load.connsPerSec / base.load.connsPerSec : undefined;
    const cpuRatio = base ? r.cpuUsPerConn / base.cpuUsPerConn : undefined;
    summary[kind] = { ...r, connsPerSecRatio: tputRatio, cpuRatio };
    rows.push([
      kind,
      r.load.connsPerSec.toFixed(0),
      fmtUs(r.load.p50us),
      fmtUs(r.load.p99us),
      r.cpuUsPerConn.toFixed(1),
      String(r.load.errors),
      fmtRatio(tputRatio),
      fmtRatio(cpuRatio),
    ]);
  }
  console.log(
    `\nLINE protocol: C loadgen (${LOADGEN_THREADS} threads), ${CONNS} connections in flight, ${SECONDS} s, ${WORKERS} workers; ` +
      `best of ${ROUNDS} run(s) per server by conns/s (order A B B A)`,
  );
  console.log(
    table(['server', 'conns/s', 'p50', 'p99', 'CPU us/conn', 'errors', 'conns/s ratio', 'CPU ratio'], rows),
  );
  console.log('(ratios: raas / baseline; conns/s higher is better, CPU per connection lower is better)');
  return { runs, best: summary };
}

// ---- HTTP scenario ----

interface HttpRun {
  server: ServerKind;
  round: number;
  mode: 'keep-alive' | 'close';
  wrk: WrkResult;
  serverCpuUs: number;
  cpuUsPerReq: number;
}

async function httpRuns(wrk: string, kind: ServerKind, round: number): Promise<HttpRun[]> {
  const port = await freePort();
  const url = `http://${HOST}:${port}/reverse?s=hello`;
  return withServer(kind, [`http://${HOST}:${port}`], async (server) => {
    const out: HttpRun[] = [];
    await runWrk({ wrk, url, seconds: WARMUP_SECONDS, conns: CONNS, threads: 2, close: false });
    for (const mode of ['keep-alive', 'close'] as const) {
      const { result, cpu } = await measured(server, () =>
        runWrk({ wrk, url, seconds: SECONDS, conns: CONNS, threads: 2, close: mode === 'close' }),
      );
      const run: HttpRun = {
        server: kind,
        round,
        mode,
        wrk: result,
        serverCpuUs: cpu.cpuUs,
        cpuUsPerReq: result.requests > 0 ? cpu.cpuUs / result.requests : NaN,
      };
      log(
        `http ${mode} ${kind} round ${round + 1}: ${result.rps.toFixed(0)} req/s, p50 ${fmtUs(result.p50us)}, ` +
          `p99 ${fmtUs(result.p99us)}, ${run.cpuUsPerReq.toFixed(1)} CPU us/req, errors ${result.errors} ` +
          `(socket ${JSON.stringify(result.socketErrors)}, non-2xx ${result.non2xx})`,
      );
      out.push(run);
    }
    return out;
  });
}

async function httpScenario(failures: string[]): Promise<unknown> {
  const wrk = ensureWrk(log);
  if (!wrk) {
    console.log('\nHTTP: skipped: wrk is not installed and could not be installed (apt-get install wrk)');
    return { skipped: 'wrk unavailable' };
  }
  const runs: HttpRun[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of order(round)) {
      try {
        runs.push(...(await httpRuns(wrk, kind, round)));
      } catch (err) {
        failures.push(`http ${kind} round ${round + 1}: ${(err as Error).message}`);
        log(failures[failures.length - 1]!);
      }
    }
  }
  const summary: Record<string, unknown> = {};
  console.log(
    `\nHTTP: wrk -t2 -c${CONNS} -d${SECONDS}s --latency, GET /reverse?s=hello, ${WORKERS} workers; ` +
      `best of ${ROUNDS} run(s) per server and mode by req/s (order A B B A)`,
  );
  for (const mode of ['keep-alive', 'close'] as const) {
    const pick = (kind: ServerKind): HttpRun | undefined =>
      best(runs.filter((r) => r.server === kind && r.mode === mode), (r) => r.wrk.rps);
    const base = pick('baseline');
    const rows: string[][] = [];
    const modeSummary: Record<string, unknown> = {};
    for (const kind of ['raas', 'baseline'] as const) {
      const r = pick(kind);
      if (!r) {
        rows.push([kind, 'failed', '-', '-', '-', '-', '-', '-']);
        continue;
      }
      const tputRatio = base ? r.wrk.rps / base.wrk.rps : undefined;
      const cpuRatio = base ? r.cpuUsPerReq / base.cpuUsPerReq : undefined;
      modeSummary[kind] = { ...r, rpsRatio: tputRatio, cpuRatio };
      rows.push([
        kind,
        r.wrk.rps.toFixed(0),
        fmtUs(r.wrk.p50us),
        fmtUs(r.wrk.p99us),
        r.cpuUsPerReq.toFixed(1),
        String(r.wrk.errors),
        fmtRatio(tputRatio),
        fmtRatio(cpuRatio),
      ]);
    }
    summary[mode] = modeSummary;
    console.log(`\n  ${mode === 'close' ? 'Connection: close (one request per connection)' : 'keep-alive'}`);
    console.log(
      table(['server', 'req/s', 'p50', 'p99', 'CPU us/req', 'errors', 'req/s ratio', 'CPU ratio'], rows)
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n'),
    );
  }
  console.log('(ratios: raas / baseline; errors = wrk socket errors + non-2xx/3xx responses)');
  return { runs, best: summary };
}

// ---- main ----

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const known = ['line', 'http', 'ops'];
  for (const a of args) if (!known.includes(a)) throw new Error(`unknown scenario ${a}: want some of ${known.join(', ')}`);
  const scenarios = new Set(args.length > 0 ? args : known);
  if (!fs.existsSync(RAAS_CLI)) log(`warning: ${RAAS_CLI} does not exist: RAAS runs will fail (build it first)`);
  if (process.env.BENCH_RAAS_CLI) log(`RAAS runner points at ${RAAS_CLI} (BENCH_RAAS_CLI): not the real RAAS`);
  log(
    `${os.cpus().length} CPUs, node ${process.version}, ${SECONDS} s per run, ${CONNS} connections, ` +
      `${ROUNDS} round(s), ${WORKERS} workers, CPU from /proc (master + workers)`,
  );
  const failures: string[] = [];
  const results: Record<string, unknown> = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version, kernel: os.release() },
    settings: { seconds: SECONDS, conns: CONNS, rounds: ROUNDS, loadgenThreads: LOADGEN_THREADS, workers: WORKERS, warmupSeconds: WARMUP_SECONDS, opsQuietMs: OPS_QUIET_MS, raasCli: RAAS_CLI, pick: 'best run by throughput' },
  };
  if (scenarios.has('line')) results.line = await lineScenario(failures);
  if (scenarios.has('http')) results.http = await httpScenario(failures);
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
