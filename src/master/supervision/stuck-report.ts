// Where a stuck worker was stuck: before the master kills a worker silent past `timeout`, it asks
// the worker's watchdog thread for a diagnostic report and waits for it, at most REPORT_WAIT_MS.
// The kill's log line then names the top JavaScript frames and the report file.
// Runs in: master. (The worker side is src/worker/watchdog.ts.)

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomHex, readOwnedFile } from '../../safe-file.js';

/** How long the kill waits for the report: a worker blocked in a syscall never writes one. */
export const REPORT_WAIT_MS = 1000;
/** A report is far below this; a bigger file is not one. */
const MAX_REPORT_BYTES = 64 * 1024 * 1024;
/** Frames named in the log line; the report file has them all. */
const TOP_FRAMES = 3;

/** What the master needs of a worker to ask it; the launcher's handle provides it. */
export interface Askable {
  readonly pid: number | undefined;
  askReport?(path: string): void;
}

interface Asked {
  path: string;
  askedAt: number;
}

export interface StuckFacts {
  stack?: string;
  report?: string;
}

export class StuckReports {
  private readonly asked = new Map<Askable, Asked>();

  /** dir null: reports are off (`worker-watchdog off`). */
  constructor(private readonly dir: string | null) {}

  /**
   * True while the kill should wait: the first call asks, later calls wait until the report is
   * complete or REPORT_WAIT_MS passed. Never waits for a worker without a watchdog.
   */
  waiting(worker: Askable, now: number): boolean {
    if (this.dir === null || worker.askReport === undefined || worker.pid === undefined) return false;
    const asked = this.asked.get(worker);
    if (asked === undefined) {
      const file = path.join(this.dir, `stuck-${worker.pid}-${randomHex(6)}.json`);
      this.asked.set(worker, { path: file, askedAt: now });
      worker.askReport(file);
      return true;
    }
    return now - asked.askedAt < REPORT_WAIT_MS && readReport(asked.path) === null;
  }

  /** What the kill's log line says of the report (and forgets the worker). */
  facts(worker: Askable): StuckFacts {
    const asked = this.asked.get(worker);
    this.asked.delete(worker);
    if (asked === undefined) return {};
    const frames = readReport(asked.path);
    if (frames === null) return { stack: 'unavailable (no report within 1 s: blocked outside JavaScript?)' };
    return { stack: frames.slice(0, TOP_FRAMES).join(' < '), report: asked.path };
  }

  forget(worker: Askable): void {
    this.asked.delete(worker);
  }
}

/**
 * The JavaScript frames a complete report names, innermost first, without the frames of the
 * report call itself; null while the file is missing (the worker renames it into place once
 * complete), or when what stands there is not a report (a symlink, a FIFO: never followed, never
 * waited on). The owner is not checked: the directory is ours and closed (prepareReportDir).
 */
export function readReport(file: string): string[] | null {
  let report: { javascriptStack?: { stack?: unknown } };
  try {
    const text = readOwnedFile(file, null, MAX_REPORT_BYTES);
    if (text === null) return null;
    report = JSON.parse(text) as typeof report;
  } catch {
    return null;
  }
  const stack = report.javascriptStack?.stack;
  if (!Array.isArray(stack)) return [];
  const frames = stack.map((f) => String(f).trim().replace(/^at /, ''));
  // writeReport, then the evaluated call (`<anonymous>`), then the code that was running.
  const evaluated = frames.findIndex((f) => f.startsWith('<anonymous>'));
  return frames.slice(evaluated + 1);
}

/**
 * The directory reports go to: `report-dir`, or a private one under the system temp dir. It must
 * be ours and closed to others (reports hold paths, the command line and the names of environment
 * variables), and never a link.
 */
/**
 * Where workers that drop to `user` write their reports: a subdirectory of the closed report
 * directory that this user owns, 0700. The master, root, still reads it; others still cannot,
 * and a worker can reach only its own user's room. Nothing to do without a user to drop to.
 */
export function workersReportDir(dir: string, owner: { uid: number; gid: number } | null): string {
  if (owner === null) return dir;
  // The worker must pass through: search, never listing or writing, for others (0711).
  const mode = fs.lstatSync(dir).mode & 0o777;
  if ((mode & 0o011) !== 0o011) fs.chmodSync(dir, mode | 0o011);
  const room = path.join(dir, `workers-${owner.uid}`);
  try {
    fs.mkdirSync(room, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  // Through an fd opened without following a link: nothing planted at the name gets the chown.
  const fd = fs.openSync(room, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  try {
    const stat = fs.fstatSync(fd);
    if (stat.uid !== owner.uid && stat.uid !== (process.getuid?.() ?? -1)) throw new Error(`report-dir ${room} belongs to another user`);
    fs.fchownSync(fd, owner.uid, owner.gid);
    fs.fchmodSync(fd, 0o700);
  } finally {
    fs.closeSync(fd);
  }
  return room;
}

export function prepareReportDir(configured: string | null): string {
  const dir = configured ?? path.join(os.tmpdir(), `raas-reports-${process.getuid?.() ?? 'user'}`);
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const stat = fs.lstatSync(dir);
  if (!stat.isDirectory()) throw new Error(`report-dir ${dir} is not a directory`);
  if (process.getuid && stat.uid !== process.getuid()) throw new Error(`report-dir ${dir} belongs to another user`);
  if ((stat.mode & 0o022) !== 0) throw new Error(`report-dir ${dir} is writable by others`);
  return dir;
}
