// The worker's watchdog: a small thread that can make a blocked worker say where it is stuck.
// Runs in: workers (main-thread side here; the thread's code is the THREAD_SOURCE string).
//
// A worker whose event loop is blocked runs no JS of its own, so it cannot answer the master over
// its channel. A worker thread can still reach it: inspector messages posted through
// `Session#connectToMainThread()` are delivered by a V8 interrupt, which a busy JS loop, a
// backtracking regex or a sort comparator services. So the master writes a report path on a pipe
// the thread reads; the thread posts `Runtime.evaluate` of our report function; the main thread,
// interrupted wherever it is, writes a diagnostic report whose JavaScript stack names the frames
// it was stuck in. The master waits for the file (at most a second) before it kills.
//
// It also ends an orphan whose loop is blocked (its master died; nobody else can kill it).
//
// What it cannot do: a thread blocked in a syscall (a synchronous child process, a FIFO read)
// services no interrupt, so no report comes and the master kills after its wait, as before.
// Measured on Node 20: the inspector's answers to the thread never arrive while the main thread
// is busy, but connecting and the evaluation itself do run; that is why the main thread writes
// the file itself and the thread never waits for a reply.
// The report is written by us, not by process.report.writeReport (which follows a symlink at the
// path and creates the file 0666 less the umask): the environment's values are replaced by
// "[redacted]" (its names stay; a token in the environment must not end up in a file), and the file
// is written atomically with mode 0600 (safe-file.ts: temp file with O_EXCL|O_NOFOLLOW, renamed).
// Cost: a second V8 isolate, ~10 MiB RSS per worker on Node 20 (more on 24); `worker-watchdog off`
// saves it and gives up the report.

import { Worker } from 'node:worker_threads';
import { writeFileAtomic } from '../safe-file.js';

/** The global the evaluated expression calls; a symbol so no app code collides with it. */
const REPORT_FN = 'raas.writeStuckReport';

const THREAD_SOURCE = `
'use strict';
const { Session } = require('node:inspector');
const net = require('node:net');
const { workerData } = require('node:worker_threads');
// Connected only when asked (connecting works while the main thread is busy, through the same
// interrupt): a session left connected would make the worker print "Waiting for the debugger to
// disconnect..." at every normal exit.
let session = null;
const channel = new net.Socket({ fd: workerData.fd, readable: true, writable: false });
let pending = '';
channel.setEncoding('utf8');
channel.on('data', (chunk) => {
  pending += chunk;
  for (let nl = pending.indexOf('\\n'); nl !== -1; nl = pending.indexOf('\\n')) {
    const path = pending.slice(0, nl);
    pending = pending.slice(nl + 1);
    const call = 'globalThis[Symbol.for(' + JSON.stringify(workerData.fn) + ')](' + JSON.stringify(path) + ')';
    if (session === null) {
      session = new Session();
      session.connectToMainThread();
    }
    session.post('Runtime.evaluate', { expression: call, silent: true });
  }
});
// The master is gone or closed the channel: nothing more to do. (The socket keeps this thread's
// loop alive; the thread itself is unref'd, so it never holds the worker's exit.)
channel.on('error', () => {});
// An orphan whose main thread is blocked never sees its channel close, and nobody is left to
// SIGKILL it: it would spin forever. A healthy orphan leaves within a second by itself; past
// ORPHAN_KILL_MS the thread ends the process.
let orphanedAt = 0;
setInterval(() => {
  if (process.ppid === workerData.masterPid) return;
  orphanedAt = orphanedAt || Date.now();
  if (Date.now() - orphanedAt >= workerData.orphanKillMs) process.kill(process.pid, 'SIGKILL');
}, 500);
`;

/** A report is readable by the worker's user only. */
export const REPORT_FILE_MODE = 0o600;
/** What every environment variable's value becomes in a report. */
export const REDACTED = '[redacted]';

/** Writes the diagnostic report of this moment to `path`: environment values redacted, mode 0600. */
export function writeStuckReport(path: string): string {
  const report = process.report.getReport() as unknown as Report;
  redactEnvironment(report);
  writeFileAtomic(path, JSON.stringify(report, null, 2), REPORT_FILE_MODE);
  return path;
}

interface Report {
  environmentVariables?: Record<string, unknown>;
  /** Subreports of worker threads (the watchdog's own among them), each with its environment. */
  workers?: Report[];
}

function redactEnvironment(report: Report): void {
  if (report.environmentVariables !== undefined) {
    report.environmentVariables = Object.fromEntries(Object.keys(report.environmentVariables).map((name) => [name, REDACTED]));
  }
  if (Array.isArray(report.workers)) for (const sub of report.workers) redactEnvironment(sub);
}

/** How long after its master's death a worker still alive (its loop blocked) is killed by its watchdog. */
const ORPHAN_KILL_MS = 5000;

/**
 * Starts the watchdog thread on the pipe `fd` the master writes report paths to. Returns false
 * (and the worker runs without it) when the thread cannot start.
 */
export function startWatchdog(fd: number, masterPid: number, onError: (err: Error) => void): boolean {
  (globalThis as Record<symbol, unknown>)[Symbol.for(REPORT_FN)] = writeStuckReport;
  try {
    const thread = new Worker(THREAD_SOURCE, { eval: true, workerData: { fd, fn: REPORT_FN, masterPid, orphanKillMs: ORPHAN_KILL_MS } });
    thread.on('error', onError);
    // The worker's life is its main thread's: the watchdog never keeps it running.
    thread.unref();
    return true;
  } catch (err) {
    onError(err as Error);
    return false;
  }
}
