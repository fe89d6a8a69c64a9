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
// What it cannot do: a thread blocked in a syscall (a synchronous child process, a FIFO read)
// services no interrupt, so no report comes and the master kills after its wait, as before.
// Measured: the inspector's answers to the thread never arrive while the main thread is busy,
// but the evaluation itself runs; that is why the main thread writes the file itself and the
// thread never waits for a reply.
// Cost: a second V8 isolate, ~10 MiB RSS per worker on Node 20 (more on 24); `worker-watchdog off`
// saves it and gives up the report.

import { Worker } from 'node:worker_threads';

/** The global the evaluated expression calls; a symbol so no app code collides with it. */
const REPORT_FN = 'raas.writeStuckReport';

const THREAD_SOURCE = `
'use strict';
const { Session } = require('node:inspector');
const net = require('node:net');
const { workerData } = require('node:worker_threads');
const session = new Session();
// Connected at boot, while the main thread is free: connecting needs its cooperation.
session.connectToMainThread();
const channel = new net.Socket({ fd: workerData.fd, readable: true, writable: false });
let pending = '';
channel.setEncoding('utf8');
channel.on('data', (chunk) => {
  pending += chunk;
  for (let nl = pending.indexOf('\\n'); nl !== -1; nl = pending.indexOf('\\n')) {
    const path = pending.slice(0, nl);
    pending = pending.slice(nl + 1);
    const call = 'globalThis[Symbol.for(' + JSON.stringify(workerData.fn) + ')](' + JSON.stringify(path) + ')';
    session.post('Runtime.evaluate', { expression: call, silent: true });
  }
});
// The master is gone or closed the channel: nothing more to do. (The socket keeps this thread's
// loop alive; the thread itself is unref'd, so it never holds the worker's exit.)
channel.on('error', () => {});
`;

/** How long an exiting worker waits for its watchdog thread to end (it takes milliseconds). */
const STOP_WAIT_MS = 200;

/**
 * Starts the watchdog thread on the pipe `fd` the master writes report paths to. Returns the
 * function that ends it, or null (and the worker runs without it) when the thread cannot start.
 * Call the stop before process.exit(): a process that exits while the thread's inspector session
 * is still connected makes Node print "Waiting for the debugger to disconnect..." on stderr, a
 * stray line in the log (seen at worker exits in the chaos test and in reopen-logs.test).
 */
export function startWatchdog(fd: number, onError: (err: Error) => void): (() => Promise<void>) | null {
  (globalThis as Record<symbol, unknown>)[Symbol.for(REPORT_FN)] = (path: string): string =>
    process.report.writeReport(path);
  try {
    const thread = new Worker(THREAD_SOURCE, { eval: true, workerData: { fd, fn: REPORT_FN } });
    thread.on('error', onError);
    // The worker's life is its main thread's: the watchdog never keeps it running.
    thread.unref();
    return () =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, STOP_WAIT_MS);
        thread.terminate().then(
          () => (clearTimeout(timer), resolve()),
          () => (clearTimeout(timer), resolve()),
        );
      });
  } catch (err) {
    onError(err as Error);
    return null;
  }
}
