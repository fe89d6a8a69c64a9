// Bench scenario `memory`: what RAAS costs in memory against Node's cluster, idle, in the same run.
// The master and 2 idle HTTP workers (RAAS with its worker watchdog, RAAS with
// `--worker-watchdog off`), against a cluster primary and 2 plain node:http workers sharing one
// socket (bench/baseline-cluster.ts), on every Node line asked for, interleaved round by round.
// Runs in: the bench orchestrator process (bench/run.ts); the servers are child processes.
//
// Measure: PSS (`Pss` of /proc/PID/smaps_rollup) summed over the process tree. RSS counts every
// page each process maps, so the pages of the node binary that all of them share are counted once
// per process; PSS splits each shared page between the processes that map it, so the tree's sum is
// what the tree costs. Next to it, each process's private memory (Private_Clean + Private_Dirty):
// what one more worker costs, and the master's own share. The watchdog's isolate is a thread of
// the worker: its cost is the worker's private memory with the watchdog less without it.
// Memory is not CPU-sensitive (a busy machine does not move these figures much); each figure is
// the median of the rounds (BENCH_MEMORY_ROUNDS, default 3).
//
// Two readings per tree: `boot`, once the tree's PSS stops moving after ready, and `idle`,
// BENCH_MEMORY_IDLE_S (20; 0: no idle reading) after ready. They differ: V8's memory reducer
// (its start delay is 8 s) gives back the heap pages that boot's allocation left committed (measured on Node 20: an RAAS master 11.7 -> 10.0 MiB private between 3 and 20 s, a
// worker 12.5 -> 10.3, a plain node:http worker 8.3 -> 7.1). `idle` is what a running instance
// holds; `boot` is what a just-started (or just-respawned) one holds.

import { fmtRatio, table } from './format.js';
import { processTree, readRollup, type ProcMemory } from './proc-cpu.js';
import { freePort, startServer, type RunningServer, type ServerKind } from './servers.js';

export interface MemoryNode {
  major: string;
  path: string;
  version: string;
}

type Variant = 'raas' | 'raas-watchdog-off' | 'cluster';

const VARIANTS: { variant: Variant; kind: ServerKind; extraArgs?: string[] }[] = [
  { variant: 'cluster', kind: 'cluster-shared' },
  { variant: 'raas', kind: 'raas' },
  { variant: 'raas-watchdog-off', kind: 'raas', extraArgs: ['--worker-watchdog', 'off'] },
];

type Phase = 'boot' | 'idle';

export interface MemoryReading {
  node: string;
  variant: Variant;
  phase: Phase;
  round: number;
  /** MiB, summed over the tree. */
  pssTotal: number;
  rssTotal: number;
  masterPss: number;
  masterPrivate: number;
  /** Mean of the workers' private memory. */
  workerPrivate: number;
  workerPss: number;
  processes: number;
}

const MIB = 1024 * 1024;
const round1 = (b: number): number => Math.round((b / MIB) * 10) / 10;

/**
 * The tree once it holds the master and exactly `workers` workers and its PSS has stopped moving
 * (two readings 300 ms apart within 1 %): a worker's first second still allocates.
 */
async function settledTree(server: RunningServer, workers: number): Promise<ProcMemory[]> {
  const read = (): ProcMemory[] => processTree(server.pid).flatMap((st) => readRollup(st.pid) ?? []);
  const deadline = Date.now() + 15000;
  let last = read();
  for (;;) {
    await new Promise((r) => setTimeout(r, 700));
    const now = read();
    const sum = (xs: ProcMemory[]): number => xs.reduce((a, m) => a + m.pss, 0);
    if (now.length === workers + 1 && last.length === now.length && Math.abs(sum(now) - sum(last)) <= sum(now) * 0.01) return now;
    if (Date.now() > deadline) throw new Error(`${server.kind}: tree of ${now.length} processes not settled after 15 s`);
    last = now;
  }
}

function summary(tree: ProcMemory[], masterPid: number): Omit<MemoryReading, 'node' | 'variant' | 'phase' | 'round'> {
  const master = tree.find((m) => m.pid === masterPid)!;
  const ws = tree.filter((m) => m.pid !== masterPid);
  const mean = (f: (m: ProcMemory) => number): number => ws.reduce((a, m) => a + f(m), 0) / ws.length;
  return {
    pssTotal: round1(tree.reduce((a, m) => a + m.pss, 0)),
    rssTotal: round1(tree.reduce((a, m) => a + m.rss, 0)),
    masterPss: round1(master.pss),
    masterPrivate: round1(master.private),
    workerPrivate: round1(mean((m) => m.private)),
    workerPss: round1(mean((m) => m.pss)),
    processes: tree.length,
  };
}

async function readings(node: MemoryNode, v: (typeof VARIANTS)[number], round: number, workers: number, idleSeconds: number): Promise<MemoryReading[]> {
  const port = await freePort();
  const server = await startServer({ kind: v.kind, listen: [`http://127.0.0.1:${port}`], workers, node: node.path, extraArgs: v.extraArgs });
  const readyAt = Date.now();
  const base = { node: node.version, variant: v.variant, round };
  try {
    // The tree untouched by any request: what an instance holds before its first request.
    const out: MemoryReading[] = [{ ...base, phase: 'boot', ...summary(await settledTree(server, workers), server.pid) }];
    if (idleSeconds > 0) {
      await new Promise((r) => setTimeout(r, Math.max(0, readyAt + idleSeconds * 1000 - Date.now())));
      const tree = processTree(server.pid).flatMap((st) => readRollup(st.pid) ?? []);
      if (tree.length !== workers + 1) throw new Error(`${server.kind}: ${tree.length} processes after ${idleSeconds} s idle, want ${workers + 1}`);
      out.push({ ...base, phase: 'idle', ...summary(tree, server.pid) });
    }
    return out;
  } finally {
    await server.stop();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export interface MemoryOptions {
  nodes: MemoryNode[];
  rounds: number;
  workers: number;
  /** Seconds after ready of the `idle` reading; 0: none. */
  idleSeconds: number;
  log: (msg: string) => void;
}

/** Runs every (node, variant) once per round, the order reversed every other round; prints the medians. */
export async function memoryScenario(opts: MemoryOptions, failures: string[]): Promise<Record<string, unknown>> {
  const all: MemoryReading[] = [];
  const jobs = opts.nodes.flatMap((node) => VARIANTS.map((v) => ({ node, v })));
  for (let round = 0; round < opts.rounds; round++) {
    for (const { node, v } of round % 2 === 0 ? jobs : [...jobs].reverse()) {
      try {
        for (const r of await readings(node, v, round, opts.workers, opts.idleSeconds)) {
          all.push(r);
          opts.log(
            `memory ${v.variant} node ${node.version} round ${round + 1} ${r.phase}: PSS ${r.pssTotal} MiB (RSS ${r.rssTotal}), ` +
              `master private ${r.masterPrivate}, worker private ${r.workerPrivate}, ${r.processes} processes`,
          );
        }
      } catch (err) {
        failures.push(`memory ${v.variant} ${node.version} round ${round + 1}: ${(err as Error).message}`);
        opts.log(failures[failures.length - 1]!);
      }
    }
  }
  const medians: Record<string, unknown>[] = [];
  const rows: string[][] = [];
  const phases: Phase[] = opts.idleSeconds > 0 ? ['boot', 'idle'] : ['boot'];
  for (const node of opts.nodes) for (const phase of phases) {
    const of = (variant: Variant): MemoryReading[] => all.filter((r) => r.node === node.version && r.variant === variant && r.phase === phase);
    const med = (variant: Variant, f: (r: MemoryReading) => number): number | undefined => {
      const xs = of(variant).map(f);
      return xs.length > 0 ? median(xs) : undefined;
    };
    const cluster = { pss: med('cluster', (r) => r.pssTotal), worker: med('cluster', (r) => r.workerPrivate) };
    const on = med('raas', (r) => r.workerPrivate);
    const off = med('raas-watchdog-off', (r) => r.workerPrivate);
    for (const { variant } of VARIANTS) {
      if (of(variant).length === 0) continue;
      const m = {
        node: node.version,
        variant,
        phase,
        readings: of(variant).length,
        pssTotal: med(variant, (r) => r.pssTotal)!,
        rssTotal: med(variant, (r) => r.rssTotal)!,
        masterPrivate: med(variant, (r) => r.masterPrivate)!,
        workerPrivate: med(variant, (r) => r.workerPrivate)!,
        pssVsCluster: cluster.pss && med(variant, (r) => r.pssTotal)! / cluster.pss,
        workerVsCluster: cluster.worker && med(variant, (r) => r.workerPrivate)! / cluster.worker,
        watchdog: variant === 'raas' && on !== undefined && off !== undefined ? Math.round((on - off) * 10) / 10 : undefined,
      };
      medians.push(m);
      rows.push([
        node.version,
        variant,
        phase === 'idle' ? `idle ${opts.idleSeconds} s` : 'boot',
        String(m.readings),
        m.pssTotal.toFixed(1),
        m.rssTotal.toFixed(1),
        m.masterPrivate.toFixed(1),
        m.workerPrivate.toFixed(1),
        m.watchdog === undefined ? '-' : m.watchdog.toFixed(1),
        fmtRatio(m.pssVsCluster),
        fmtRatio(m.workerVsCluster),
      ]);
    }
  }
  console.log(
    `\nMemory, idle: master + ${opts.workers} HTTP workers, medians of ${opts.rounds} interleaved round(s); boot: once PSS stops moving after ready, idle: ${opts.idleSeconds} s after ready (MiB; PSS and RSS summed ` +
      `over the tree; private = Private_Clean + Private_Dirty; worker: mean of the workers; watchdog: worker private with ` +
      `it less without; ratios against Node cluster's primary + ${opts.workers} plain node:http workers of the same Node)`,
  );
  console.log(
    table(['node', 'server', 'when', 'n', 'PSS', 'RSS', 'master priv', 'worker priv', 'watchdog', 'PSS/cluster', 'worker/cluster'], rows),
  );
  return { readings: all, medians };
}
