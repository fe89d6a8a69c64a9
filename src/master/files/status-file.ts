// The master's status file, beside the pid file: what the control command reads to learn the
// outcome of a reload, an upgrade or a scale without parsing logs.
// Runs in: master (writes it) and control commands (read it).

import * as fs from 'node:fs';
import type { ReloadStatus } from '../reload/reload.js';
import type { WorkerRow } from '../stats/snapshot.js';
import { ourUid, readOwnedFile, writeFileAtomic } from '../../safe-file.js';
import { errorMessage } from '../../errors.js';

/** Only the master's user reads it (the control command runs as that user, or as root). */
export const STATUS_FILE_MODE = 0o600;

export interface MasterStatus {
  pid: number;
  name: string;
  /** lame-duck: a graceful stop was ordered and `lame-duck S` runs first (still serving, /healthz 503). */
  phase: 'running' | 'lame-duck' | 'stopping';
  /** All wanted workers of the current generation are ready. */
  ready: boolean;
  generation: number;
  target: number;
  /** The one snapshot of the workers (stats/snapshot.ts), as it is. */
  workers: WorkerRow[];
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
  private failing = false;

  /** `onError` hears of the first failed write of a run of failures (and nothing while they last). */
  constructor(
    private readonly path: string,
    private readonly onError: (message: string) => void = (message) => process.emitWarning(message),
  ) {}

  publish(status: MasterStatus): void {
    const text = JSON.stringify(status);
    if (text === this.last) return;
    try {
      writeFileAtomic(this.path, text + '\n', STATUS_FILE_MODE);
      this.last = text;
      this.failing = false;
    } catch (err) {
      // Serving does not depend on the status file, but the control command does: say so, once,
      // and try again with the next change.
      if (!this.failing) this.onError(`${errorMessage(err)}; control commands cannot see this master's state`);
      this.failing = true;
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

/**
 * The status a master published, if its file exists, is owned by `owner` (default: us) and names
 * that master. Throws UnsafeFileError (with the reason) for a file that must be ignored.
 */
export function readStatusChecked(pidFile: string, pid: number, owner: number | null = ourUid()): MasterStatus | null {
  return readStatusFileChecked(statusPath(pidFile, pid), pid, owner);
}

/** As readStatusChecked, for the status file at `file` (the path a registry entry names). */
export function readStatusFileChecked(file: string, pid: number, owner: number | null = ourUid()): MasterStatus | null {
  const text = readOwnedFile(file, owner);
  if (text === null) return null;
  try {
    const status = JSON.parse(text) as MasterStatus;
    return status?.pid === pid ? status : null;
  } catch {
    return null; // never half-written (renamed into place); unreadable means not ours
  }
}

export function readStatus(pidFile: string, pid: number, owner: number | null = ourUid()): MasterStatus | null {
  try {
    return readStatusChecked(pidFile, pid, owner);
  } catch {
    return null;
  }
}
