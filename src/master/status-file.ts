// The master's status file, beside the pid file: what the control command reads to learn the
// outcome of a reload, an upgrade or a scale without parsing logs.
// Runs in: master (writes it) and control commands (read it).

import * as fs from 'node:fs';
import type { ReloadStatus } from './reload.js';

export interface MasterStatus {
  pid: number;
  name: string;
  phase: 'running' | 'stopping';
  /** All wanted workers of the current generation are ready. */
  ready: boolean;
  generation: number;
  target: number;
  workers: Array<{ slot: number; pid: number | null; generation: number; state: string }>;
  /** Counters and the last outcomes of HUP reloads (see reload.ts). */
  reloads: ReloadStatus;
  successor: { pid: number; ready: boolean } | null;
  /** USR2 successors started, failed before ready, lost (died after ready, not quit). */
  upgrades: { started: number; failed: number; lost: number };
}

/** One file per master, so an old and a new master never overwrite each other's. */
export function statusPath(pidFile: string, pid: number): string {
  return `${pidFile}.${pid}.status.json`;
}

export class StatusFile {
  private last = '';

  constructor(private readonly path: string) {}

  publish(status: MasterStatus): void {
    const text = JSON.stringify(status);
    if (text === this.last) return;
    this.last = text;
    const tmp = `${this.path}.tmp`;
    try {
      fs.writeFileSync(tmp, text + '\n');
      fs.renameSync(tmp, this.path);
    } catch {
      // Status is a convenience for the control command; serving must not depend on it.
    }
  }

  remove(): void {
    try {
      fs.unlinkSync(this.path);
    } catch {
      // never written, or gone
    }
  }
}

export function readStatus(pidFile: string, pid: number): MasterStatus | null {
  try {
    return JSON.parse(fs.readFileSync(statusPath(pidFile, pid), 'utf8')) as MasterStatus;
  } catch {
    return null;
  }
}
