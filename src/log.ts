// The logger shared by every RAAS process: one line per event, `key=value`, with role and pid.
// Runs in: master, workers and control commands (each process owns its own Logger).
//
// Each line goes out in a single write(2): lines from the master and its workers appended to the
// same file or pipe never interleave mid-line (O_APPEND writes below PIPE_BUF are atomic).
// The log file is opened (at start, on USR1, on a HUP that changes it) by safe-file.ts's
// openAppendFile: never through a symlink, only a file of ours or root's, created 0640.

import * as fs from 'node:fs';
import { openAppendFile } from './safe-file.js';
import { errorMessage } from './errors.js';

/** Event names that tests and operators wait for: never spell them inline. */
export const LOG = {
  READY: 'ready',
  SIGNAL: 'signal',
  WORKER_SPAWN: 'worker-spawn',
  WORKER_READY: 'worker-ready',
  WORKER_EXIT: 'worker-exit',
  WORKER_TIMEOUT: 'worker-timeout',
  WORKER_BOOT_TIMEOUT: 'worker-boot-timeout',
  WORKER_BOOT_FAILED: 'worker-boot-failed',
  WORKERS_CANNOT_BOOT: 'workers-cannot-boot',
  MASTER_STALLED: 'master-stalled',
  STOPPING: 'stopping',
  STOP_ESCALATE: 'stop-escalate',
  STOPPED: 'stopped',
  TITLE_TRUNCATED: 'title-truncated',
  LOGS_REOPENED: 'logs-reopened',
  LOG_REOPEN_FAILED: 'log-reopen-failed',
  CONFIG_ERROR: 'config-error',
  BIND_ERROR: 'bind-error',
  LISTENER_CLOSED: 'listener-closed',
  RELOAD_START: 'reload-start',
  RELOAD_DONE: 'reload-done',
  RELOAD_ABORTED: 'reload-aborted',
  RELOAD_REFUSED: 'reload-refused',
  RELOAD_QUEUED: 'reload-queued',
  WATCHING: 'watching',
  WATCH_CHANGED: 'watch-changed',
  WATCH_PROBLEM: 'watch-problem',
  SCALE: 'scale',
  /** max-workers: the elastic policy added or removed a worker, and why (supervision/elastic.ts). */
  ELASTIC_SCALE: 'elastic-scale',
  /** max-workers: saturated, but the memory the master can see would not hold another worker. */
  ELASTIC_HELD: 'elastic-held',
  REEXEC_START: 'reexec-start',
  REEXEC_IGNORED: 'reexec-ignored',
  REEXEC_READY: 'reexec-ready',
  REEXEC_FAILED: 'reexec-failed',
  REEXEC_HANDOVER: 'reexec-handover',
  REEXEC_BACKOUT: 'reexec-backout',
  REEXEC_LOST: 'reexec-lost',
  REEXEC_REFUSED: 'reexec-refused',
  OLD_MASTER_GONE: 'old-master-gone',
  WORKERS_STOPPED: 'workers-stopped',
  REAPED_UNKNOWN: 'reaped-unknown',
  REAPER_MISSING: 'reaper-missing',
  /** At start: which path serves for each native addon (src/native.ts). */
  NATIVE_ADDONS: 'native-addons',
  PIDFILE_ERROR: 'pidfile-error',
  MASTER_LOOP_ERROR: 'master-loop-error',
  MASTER_UNSOUND: 'master-unsound',
  WORKER_DRAIN_TIMEOUT: 'worker-drain-timeout',
  /** A worker passed max-requests or max-memory: its replacement is being started (recycle.ts). */
  RECYCLE_BEGIN: 'recycle-begin',
  /** The replacement is ready: the recycled worker is told to drain. */
  RECYCLE_STOP: 'recycle-stop',
  /** A worker answers some keep-alive responses `Connection: close` for the master's rebalancing. */
  REBALANCE_SHED: 'rebalance-shed',
  STATUS_FILE_ERROR: 'status-file-error',
  /** At start: the master's entry in the run directory (registry.ts), where control commands find it. */
  REGISTERED: 'registered',
  /** The run directory or the entry cannot be used: control commands need --pid to find this master. */
  REGISTRY_ERROR: 'registry-error',
  ADMIN_LISTENING: 'admin-listening',
  ADMIN_ERROR: 'admin-error',
  /** The admin listener is bound off loopback: reachable from other machines, without authentication. */
  ADMIN_EXPOSED: 'admin-exposed',
  LOG_LINES_LOST: 'log-lines-lost',
  /** A booting worker died of a signal before its first instruction: respawned at once, no boot failure. */
  WORKER_SIGNALLED_EARLY: 'worker-signalled-early',
  /** A root master whose Node was not started with --disable-sigusr1 (early-signals.ts). */
  INSPECTOR_WINDOW: 'inspector-window',
  // worker side
  WORKER_LISTENING: 'listening',
  WORKER_DRAINING: 'draining',
  WORKER_DRAINED: 'drained',
  WORKER_ORPHANED: 'orphaned',
  UNCAUGHT: 'uncaught-exception',
  WATCHDOG_FAILED: 'watchdog-failed',
  /** The worker gave up root for `user`/`group` before loading the app (worker/privileges.ts). */
  PRIVILEGES_DROPPED: 'privileges-dropped',
  CLIENT_ERROR: 'client-error',
  HANDLER_ERROR: 'handler-error',
  /** Line clients that missed line-timeout (rate-limited: count since the last line, total). */
  LINE_TIMEOUTS: 'line-timeouts',
  /** Line clients refused because line-buffer-limit was reached (rate-limited like LINE_TIMEOUTS). */
  LINE_BUFFER_FULL: 'line-buffer-full',
  /** The app module exports no app: it calls listen() itself and gets RAAS's sockets (zero-code mode). */
  APP_SELF_SERVING: 'app-self-serving',
  /**
   * Zero-code mode: the app has not listened on every one of RAAS's http listeners yet (the worker
   * is not ready); names the app, the listeners still waiting and all it was expected to take.
   */
  APP_NOT_LISTENING: 'app-not-listening',
  /** Zero-code mode: the app's listen() asked for a port or path no RAAS http listener has (refused to the app too). */
  APP_LISTEN_REFUSED: 'app-listen-refused',
  /** Zero-code mode: a ready worker's app closed its server on an http listener and left it for boot-timeout (the worker asks to be replaced). */
  APP_STOPPED_LISTENING: 'app-stopped-listening',
  /** One line the app wrote to stdout or stderr (`app-output log`, worker/app-output.ts). */
  APP_OUTPUT: 'app-output',
  // behind a balancer (PROXY protocol, lame duck)
  PROXY_REFUSED: 'proxy-refused',
  PROXY_HEADER: 'proxy-header',
  LAME_DUCK: 'lame-duck',
  FDS_INHERITABLE: 'fds-inheritable',
  ACCEPT_ERROR: 'accept-error',
} as const;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Fields = Record<string, string | number | boolean | null | undefined>;

/** Formats one value so that the line stays `key=value` parseable (quotes when needed). */
export function formatValue(value: string | number | boolean | null): string {
  if (value === null) return '-';
  const text = String(value);
  if (text === '' || /[\s"=\\]/.test(text)) return JSON.stringify(text);
  return text;
}

export function formatLine(level: LogLevel, base: Fields, event: string, fields: Fields): string {
  let line = `time=${new Date().toISOString()} level=${level}`;
  for (const [key, value] of Object.entries(base)) {
    if (value !== undefined) line += ` ${key}=${formatValue(value)}`;
  }
  line += ` event=${formatValue(event)}`;
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) line += ` ${key}=${formatValue(value)}`;
  }
  return line + '\n';
}

/** Parses a line written by formatLine back into fields (tests and control commands read logs). */
export function parseLine(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([\w.-]+)=("(?:[^"\\]|\\.)*"|\S*)/g;
  for (let m = re.exec(line); m !== null; m = re.exec(line)) {
    const raw = m[2] ?? '';
    out[m[1] as string] = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
  }
  return out;
}

/**
 * Writes to stderr or stdout by anyone else (an app's console.log, Node's own warnings) must not
 * kill the process either: a closed pipe makes the stream emit 'error', which without a listener
 * is an uncaught exception. Installed once per process by the first Logger.
 */
let stdioGuarded = false;
function guardStdio(): void {
  if (stdioGuarded) return;
  stdioGuarded = true;
  const ignore = (): void => {};
  process.stdout.on('error', ignore);
  process.stderr.on('error', ignore);
}

/** Errors of a dead or full sink: the line is dropped and counted, never thrown. */
const SINK_ERRORS = new Set(['EPIPE', 'EBADF', 'EAGAIN', 'ENOSPC', 'EIO', 'EDQUOT', 'ECONNRESET', 'EINVAL']);

/** How long one line may wait for a full pipe to drain, in total. */
const EAGAIN_BUDGET_MS = 100;
const SLEEPER = new Int32Array(new SharedArrayBuffer(4));

export class Logger {
  private fd: number | null = null;
  private readonly base: Fields;
  /** Lines the sink refused since the last successful write, and the first error. */
  private lost = 0;
  private lostError = '';

  constructor(
    base: Fields,
    private path: string | null = null,
  ) {
    this.base = { ...base };
    guardStdio();
    this.open();
  }

  /** Adds or changes fields written on every line (a worker learns its slot, say). */
  setBase(fields: Fields): void {
    Object.assign(this.base, fields);
  }

  /**
   * Points the logger at another file (a reload changed `log-file`), or back at stderr. The new
   * file is opened before the old one is let go: when it cannot be opened, logging carries on
   * where it was and the error is thrown to the caller (a process must never die of its log).
   */
  setPath(path: string | null): void {
    if (path === this.path) return;
    const fd = path === null ? null : openAppendFile(path);
    this.close();
    this.path = path;
    this.fd = fd;
  }

  /** Reopens the log file by name, for logrotate (USR1); on failure keeps the old one and says so. */
  reopen(): boolean {
    if (this.path === null) return true;
    let fd: number;
    try {
      fd = openAppendFile(this.path);
    } catch (err) {
      this.error(LOG.LOG_REOPEN_FAILED, { path: this.path, error: errorMessage(err) });
      return false;
    }
    this.close();
    this.fd = fd;
    return true;
  }

  debug(event: string, fields: Fields = {}): void {
    if (process.env.RAAS_DEBUG) this.write('debug', event, fields);
  }
  info(event: string, fields: Fields = {}): void {
    this.write('info', event, fields);
  }
  warn(event: string, fields: Fields = {}): void {
    this.write('warn', event, fields);
  }
  error(event: string, fields: Fields = {}): void {
    this.write('error', event, fields);
  }

  /** Lines dropped since the last line that got through (a dead pipe, a full disk). */
  get lostLines(): number {
    return this.lost;
  }

  private write(level: LogLevel, event: string, fields: Fields): void {
    if (this.lost > 0 && !this.writeLine(formatLine('warn', this.base, LOG.LOG_LINES_LOST, { lines: this.lost, error: this.lostError }))) {
      this.lost++;
      return;
    }
    this.lost = 0;
    if (!this.writeLine(formatLine(level, this.base, event, fields))) this.lost++;
  }

  /**
   * One line in one synchronous write(2), to the file or straight to fd 2: process.stderr on a
   * pipe writes asynchronously and reports a closed pipe as an 'error' event, which became an
   * uncaught exception whose handler logged again (a loop at high CPU). A log sink that fails
   * must never take the process down: the line is counted as lost and reported once, with the
   * count, by the next line that gets through (a reopened or new log file, a drained pipe).
   */
  private writeLine(line: string): boolean {
    const data = Buffer.from(line);
    let offset = 0;
    let waitedMs = 0;
    for (;;) {
      try {
        offset += fs.writeSync(this.fd ?? 2, data, offset);
        if (offset >= data.length) return true;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'unknown';
        // fd 2 is non-blocking once Node has wrapped a pipe in process.stderr: a reader that is
        // slow gets a short wait, a reader that is stuck loses the line rather than the process.
        // Once a line was lost, the next ones get no wait until one gets through: a chatty app
        // (app-output) on a stuck pipe must not cost its worker 100 ms per line.
        if (code === 'EAGAIN' && waitedMs < (this.lost > 0 ? 0 : EAGAIN_BUDGET_MS)) {
          Atomics.wait(SLEEPER, 0, 0, 1);
          waitedMs++;
          continue;
        }
        if (this.lost === 0) this.lostError = SINK_ERRORS.has(code) ? code : `unexpected ${code}`;
        return false;
      }
    }
  }

  private open(): void {
    if (this.path === null) return;
    this.fd = openAppendFile(this.path);
  }

  private close(): void {
    if (this.fd === null) return;
    try {
      fs.closeSync(this.fd);
    } catch {
      // already closed
    }
    this.fd = null;
  }
}
