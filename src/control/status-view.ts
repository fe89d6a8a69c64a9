// `raas status`: the master's stats report (written beside the pid file once a second) as a
// readable table, or as the JSON document of docs/OBSERVABILITY.md with --json.
// Runs in: the operator's shell (a short-lived process, never the master).

import { readOwnedFile } from '../safe-file.js';
import { readStatusFileChecked } from '../master/files/status-file.js';
import type { StatusReport } from '../master/stats/stats.js';
import type { WorkerRow } from '../master/stats/snapshot.js';

/** Where a master's two state files are (beside its pid file, or in the run directory), and whose they must be. */
export interface StateFiles {
  status: string;
  stats: string;
  owner: number | null;
}

export function readReport(files: StateFiles): StatusReport | null {
  try {
    // Only a file of the master's user counts (no link, no other owner): see safe-file.ts.
    const text = readOwnedFile(files.stats, files.owner);
    return text === null ? null : (JSON.parse(text) as StatusReport);
  } catch {
    return null;
  }
}

const AGREE_TIMEOUT_MS = 3000;
const POLL_MS = 50;

/**
 * The stats report, once it shows the same workers (pid and state) as the status file, which the
 * master rewrites at every change; after a few seconds of churn, the latest report there is.
 * Null only when the master never wrote one.
 */
export async function freshReport(files: StateFiles, pid: number): Promise<StatusReport | null> {
  const deadline = Date.now() + AGREE_TIMEOUT_MS;
  // Both files render the one snapshot of the workers (master/stats/snapshot.ts): the same rows.
  const workers = (list: readonly WorkerRow[]): string =>
    list.map((w) => `${w.pid}:${w.state}`).sort().join(',');
  for (;;) {
    let status: ReturnType<typeof readStatusFileChecked> = null;
    try {
      status = readStatusFileChecked(files.status, pid, files.owner);
    } catch {
      // an untrusted status file: the report alone
    }
    const report = readReport(files);
    if (report && (status === null || workers(report.workers) === workers(status.workers))) return report;
    if (Date.now() >= deadline) return report;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function bytes(n: number | null): string {
  if (n === null) return '-';
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(1)}G`;
  return `${(n / (1 << 20)).toFixed(1)}M`;
}

export function age(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  return `${(seconds / 3600).toFixed(1)}h`;
}

const dash = <T>(v: T | null, f: (v: T) => string): string => (v === null ? '-' : f(v));

/** Columns padded to their widest cell; the first `left` columns left-aligned, the rest right. */
export function table(rows: string[][], left = 1): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) =>
    r.map((cell, i) => (i < left ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd(),
  );
}

export function renderReport(r: StatusReport): string[] {
  const m = r.master;
  const out = [
    `master ${m.pid} ${m.name} ${m.phase} generation=${m.generation} workers=${m.targetWorkers} up ${age(m.uptimeSeconds)} rss=${bytes(m.rss)} requests=${r.totals.requests} errors=${r.totals.errors}`,
    '',
  ];
  const lastExit = new Map(r.slots.map((s) => [s.slot, s.lastExit]));
  out.push(
    ...table(
      [
        ['SLOT', 'STATE', 'PID', 'GEN', 'AGE', 'REQUESTS', 'REQ/S', 'INFLIGHT', 'RSS', 'HEAP', 'ELU', 'LOOP P99', 'LAST EXIT'],
        ...r.workers.map((w) => {
          const exit = lastExit.get(w.slot);
          return [
            String(w.slot),
            w.state,
            String(w.pid ?? '-'),
            String(w.generation),
            age(w.ageSeconds),
            String(w.requests),
            String(w.requestsPerSecond),
            dash(w.inFlight, String),
            bytes(w.rss),
            bytes(w.heapUsed),
            dash(w.elu, (v) => `${Math.round(v * 100)}%`),
            dash(w.loopDelayP99Ms, (v) => `${v.toFixed(1)}ms`),
            exit ? `${exit.reason} (${exit.signal ?? `code ${exit.code}`})` : '-',
          ];
        }),
      ],
      2,
    ),
  );
  out.push('');
  out.push(
    ...table(
      [
        ['LISTENER', 'PROTOCOL', 'QUEUE', 'MAX', 'PEAK', 'REQUESTS', 'ERRORS', '2XX', '3XX', '4XX', '5XX', 'UPGRADES'],
        ...r.listeners.map((l) => [
          l.address,
          l.protocol,
          dash(l.queueDepth, String),
          dash(l.queueMax, String),
          dash(l.queuePeak, String),
          String(l.requests),
          String(l.errors),
          ...(['2xx', '3xx', '4xx', '5xx'] as const).map((c) => (l.http ? String(l.http.statusClasses[c] ?? 0) : '-')),
          l.http ? String(l.http.upgrades) : '-',
        ]),
      ],
      2,
    ),
  );
  const restarts = Object.entries(r.restarts).map(([k, v]) => `${k}=${v}`).join(' ');
  out.push('', `worker exits: ${restarts || 'none'}   reloads: done=${r.reloads.done} aborted=${r.reloads.aborted} refused=${r.reloads.refused}   upgrades: started=${r.upgrades.started} failed=${r.upgrades.failed}`);
  out.push(scalingLine(r));
  return out;
}

/** `workers: elastic 2..4 up=3 down=1 held=0; last up 2->3 (busy) at ...; now elu=97% queue=0`, or a fixed pool. */
export function scalingLine(r: StatusReport): string {
  // A report written by a master from before max-workers has no scaling part.
  const s = (r as Partial<StatusReport>).scaling;
  if (s === undefined || !s.active) return 'workers: fixed pool';
  const last = s.last === null ? 'none yet' : `${s.last.direction} ${s.last.from}->${s.last.to} (${s.last.reason}) at ${s.last.at}`;
  const now = `elu=${dash(s.elu, (v) => `${Math.round(v * 100)}%`)} queue=${dash(s.queueDepth, String)}${s.holding ? ` holding: ${s.holding}` : ''}`;
  return `workers: elastic ${s.min}..${s.max} up=${s.ups} down=${s.downs} held=${s.heldForMemory}; last ${last}; now ${now}`;
}
