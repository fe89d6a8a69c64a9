// Test helpers for runs with several masters (USR2 upgrades) and for pid files and ports: which
// workers a given master runs, waiting for a master that is not our child to be gone, free ports.
// Runs in: the test runner process.

import * as fs from 'node:fs';
import * as net from 'node:net';
import { LOG } from '../../src/log.js';
import { isAlive, waitUntil, type LogEntry, type RaasProcess } from './raas.js';

/** A loopback TCP port free right now (bind 0, read the port, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** The pid a pid file names, or null when it is missing or unreadable. */
export function readPidFile(path: string): number | null {
  try {
    const pid = Number.parseInt(fs.readFileSync(path, 'utf8').trim(), 10);
    return Number.isInteger(pid) ? pid : null;
  } catch {
    return null;
  }
}

/** Number of open file descriptors of a process (entries of /proc/PID/fd). */
export function fdCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/** `/proc/PID/fd` as "fd -> target" lines, for assertion messages. */
export function fdListing(pid: number): string {
  try {
    return fs
      .readdirSync(`/proc/${pid}/fd`)
      .map(Number)
      .sort((a, b) => a - b)
      .map((fd) => {
        try {
          return `${fd} -> ${fs.readlinkSync(`/proc/${pid}/fd/${fd}`)}`;
        } catch {
          return `${fd} -> ?`;
        }
      })
      .join('\n');
  } catch {
    return '(gone)';
  }
}

/** Log entries written by one master (role=master, its pid). */
export function masterEntries(raas: RaasProcess, masterPid: number, after = 0): LogEntry[] {
  return raas.entries.slice(after).filter((e) => e.role === 'master' && e.pid === String(masterPid));
}

/** Workers this master spawned and has not yet seen exit, by its own log. */
export function workersOf(raas: RaasProcess, masterPid: number): number[] {
  const alive = new Set<number>();
  for (const e of masterEntries(raas, masterPid)) {
    if (e.event === LOG.WORKER_SPAWN) alive.add(Number(e.worker_pid));
    if (e.event === LOG.WORKER_EXIT) alive.delete(Number(e.worker_pid));
  }
  return [...alive];
}

/** Workers of this master that are ready (and not exited), by its own log. */
export function readyWorkersOf(raas: RaasProcess, masterPid: number): number[] {
  const live = new Set(workersOf(raas, masterPid));
  const ready = new Set<number>();
  for (const e of masterEntries(raas, masterPid)) {
    if (e.event === LOG.WORKER_READY && live.has(Number(e.worker_pid))) ready.add(Number(e.worker_pid));
  }
  return [...ready];
}

/** The exit entry this master logged for a worker, if any. */
export function workerExit(raas: RaasProcess, masterPid: number, workerPid: number): LogEntry | undefined {
  return masterEntries(raas, masterPid).find((e) => e.event === LOG.WORKER_EXIT && e.worker_pid === String(workerPid));
}

/**
 * Waits until a master (possibly not our child: a re-exec'd one) logged `stopped` and is gone.
 * Returns its `stopped` entry (exit_code).
 */
export async function waitMasterStopped(raas: RaasProcess, masterPid: number, timeoutMs = 15_000): Promise<LogEntry> {
  const stopped = await raas.waitForEvent(LOG.STOPPED, { role: 'master', pid: String(masterPid) }, { timeoutMs });
  await waitUntil(`master ${masterPid} gone`, () => !isAlive(masterPid), timeoutMs);
  return stopped;
}

/** Sends USR2 to a master and returns the pid of the new master it started. */
export async function upgrade(raas: RaasProcess, masterPid: number): Promise<{ newPid: number; mark: number }> {
  const mark = raas.entries.length;
  process.kill(masterPid, 'SIGUSR2');
  const start = await raas.waitForEvent(LOG.REEXEC_START, { role: 'master', pid: String(masterPid) }, { after: mark });
  return { newPid: Number(start.new_master_pid), mark };
}
