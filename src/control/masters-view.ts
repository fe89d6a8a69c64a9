// `raas status` without a master named: this user's live masters from the registry
// (master/files/registry.ts), one line each, read from the status file and the stats report each
// master already writes (name, pid, state, ready/wanted workers, generation, uptime, requests).
// Runs in: the operator's shell (a short-lived process, never the master).

import { readStatusFileChecked, type MasterStatus } from '../master/files/status-file.js';
import type { RegistryEntry } from '../master/files/registry.js';
import { ourUid } from '../safe-file.js';
import { age, readReport, table } from './status-view.js';

export interface MasterRow {
  name: string;
  pid: number;
  /** running, lame-duck, stopping (the status file's phase); booting before it has one. */
  phase: string;
  /** A USR2 successor of this master runs (registry.ts: the successor now answers to the name). */
  old: boolean;
  /** The master this one replaces (USR2), or null. */
  parent: number | null;
  ready: number | null;
  workers: number | null;
  generation: number | null;
  uptimeSeconds: number;
  requests: number | null;
  pidFile: string | null;
}

export function masterRows(entries: readonly RegistryEntry[], now = Date.now()): MasterRow[] {
  const owner = ourUid();
  return entries.map((e) => {
    let status: MasterStatus | null = null;
    try {
      status = readStatusFileChecked(e.statusFile, e.pid, owner);
    } catch {
      // untrusted: shown as unknown
    }
    const report = readReport({ status: e.statusFile, stats: e.statsFile, owner });
    return {
      name: e.name,
      pid: e.pid,
      phase: status?.phase ?? 'booting',
      old: entries.some((s) => s.parent === e.pid && s.name === e.name),
      parent: e.parent,
      ready: status === null ? null : status.workers.filter((w) => w.state === 'ready').length,
      workers: status?.target ?? null,
      generation: status?.generation ?? null,
      uptimeSeconds: Math.max(0, Math.round((now - e.started) / 100) / 10),
      requests: report?.totals.requests ?? null,
      pidFile: e.pidFile,
    };
  });
}

export function renderMasters(rows: readonly MasterRow[]): string[] {
  return table(
    [
      ['NAME', 'PID', 'STATE', 'WORKERS', 'GEN', 'UPTIME', 'REQUESTS'],
      ...rows.map((r) => [
        r.name,
        String(r.pid),
        r.old ? `${r.phase} (old)` : r.parent !== null && rows.some((o) => o.pid === r.parent) ? `${r.phase} (new)` : r.phase,
        r.workers === null ? '-' : `${r.ready}/${r.workers}`,
        r.generation === null ? '-' : String(r.generation),
        age(r.uptimeSeconds),
        r.requests === null ? '-' : String(r.requests),
      ]),
    ],
    3,
  );
}

export function mastersTable(entries: readonly RegistryEntry[]): string[] {
  return renderMasters(masterRows(entries));
}
