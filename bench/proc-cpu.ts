// Bench helper: server CPU time read from /proc (utime + stime of a process and all its
// descendants), and process identity (pid + start time) so that stale pids are never signalled.
// Runs in: the bench orchestrator process (bench/run.ts).

import * as fs from 'node:fs';
import { execFileSync } from 'node:child_process';

let clkTck: number | undefined;

/** Clock ticks per second for /proc/<pid>/stat times (`getconf CLK_TCK`, almost always 100). */
export function clockTicks(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

export interface ProcStat {
  pid: number;
  ppid: number;
  /** State letter (R, S, D, Z for a zombie not yet reaped by its parent, ...). */
  state: string;
  /** utime + stime, in clock ticks (all threads of the process). */
  cpuTicks: number;
  /** Start time after boot, in clock ticks: (pid, startTime) identifies a process. */
  startTime: number;
}

/** Parses /proc/<pid>/stat; undefined when the process is gone. */
export function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); field N is rest[N - 3].
  const num = (field: number): number => Number(rest[field - 3]);
  return { pid, ppid: num(4), state: rest[0] ?? '?', cpuTicks: num(14) + num(15), startTime: num(22) };
}

/** The process and all its descendants (scans /proc/<pid>/stat for parent links). */
export function processTree(root: number): ProcStat[] {
  const all: ProcStat[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(Number(name));
    if (st) all.push(st);
  }
  const byParent = new Map<number, ProcStat[]>();
  for (const st of all) {
    const list = byParent.get(st.ppid) ?? [];
    list.push(st);
    byParent.set(st.ppid, list);
  }
  const rootStat = all.find((st) => st.pid === root);
  if (!rootStat) return [];
  const out: ProcStat[] = [rootStat];
  for (let i = 0; i < out.length; i++) {
    for (const child of byParent.get(out[i]!.pid) ?? []) out.push(child);
  }
  return out;
}

export type CpuSample = Map<string, ProcStat>; // key: `${pid}:${startTime}`

export function sampleTree(root: number): CpuSample {
  const sample: CpuSample = new Map();
  for (const st of processTree(root)) sample.set(`${st.pid}:${st.startTime}`, st);
  return sample;
}

export interface CpuDelta {
  /** CPU used between the samples by every process of the tree, in microseconds. */
  cpuUs: number;
  /** Processes in the tree at the end (master + workers). */
  processes: number;
  /** Processes seen at the start and gone at the end: their CPU in the window is lost. */
  vanished: number;
}

/** CPU between two samples of the same tree; a process born in between counts from zero. */
export function cpuDelta(before: CpuSample, after: CpuSample): CpuDelta {
  let ticks = 0;
  for (const [key, st] of after) ticks += st.cpuTicks - (before.get(key)?.cpuTicks ?? 0);
  let vanished = 0;
  for (const key of before.keys()) if (!after.has(key)) vanished++;
  return { cpuUs: (ticks * 1e6) / clockTicks(), processes: after.size, vanished };
}

/** CPU (microseconds) of each process of the tree but `root` (the workers) between two samples. */
export function workerCpu(before: CpuSample, after: CpuSample, root: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const [key, st] of after) {
    if (st.pid === root) continue;
    const ticks = st.cpuTicks - (before.get(key)?.cpuTicks ?? 0);
    out.set(st.pid, (ticks * 1e6) / clockTicks());
  }
  return out;
}

/**
 * Memory only this process holds, in bytes: Private_Clean + Private_Dirty of its smaps_rollup.
 * What one more worker really costs; RSS also counts the pages of the node binary and libraries
 * that every Node process on the machine shares (~34 MiB of a bare Node 20's 40). Undefined when
 * the process is gone.
 */
export function privateBytes(pid: number): number | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
    const total = kb('Private_Clean') + kb('Private_Dirty');
    return Number.isFinite(total) ? total * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** One process's memory from its smaps_rollup, in bytes. */
export interface ProcMemory {
  pid: number;
  rss: number;
  pss: number;
  private: number;
}

/** Reads /proc/PID/smaps_rollup; undefined when the process is gone. */
export function readRollup(pid: number): ProcMemory | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
  const rss = kb('Rss');
  const pss = kb('Pss');
  const priv = kb('Private_Clean') + kb('Private_Dirty');
  if (![rss, pss, priv].every(Number.isFinite)) return undefined;
  return { pid, rss, pss, private: priv };
}

/** Resident set size of a process in bytes (VmRSS), undefined when it is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
