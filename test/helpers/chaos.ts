// Helpers for the chaos test: a seeded PRNG, freezing a process (SIGSTOP, then waiting until every
// thread is stopped), counting the client connections a frozen worker holds from the kernel's
// view of its fd table, RSS and zombie children read from /proc.
// Runs in: the test runner process (Linux /proc only).

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export { seededRandom } from './random.js';

/** The state letter of a /proc/.../stat line (after the parenthesized command, which may hold spaces). */
function stateOf(stat: string): string {
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

function readOrNull(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/**
 * SIGSTOPs `pid` and waits until every one of its threads is stopped: from then on it accepts,
 * reads and closes nothing, so its fd table is exactly what a kill would cut. Returns false if
 * the process is gone (or a zombie) before it could be frozen.
 */
export async function freeze(pid: number, timeoutMs = 10_000): Promise<boolean> {
  try {
    process.kill(pid, 'SIGSTOP');
  } catch {
    return false;
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let tasks: string[];
    try {
      tasks = fs.readdirSync(`/proc/${pid}/task`);
    } catch {
      return false;
    }
    const states = tasks.map((t) => readOrNull(`/proc/${pid}/task/${t}/stat`)).filter((s): s is string => s !== null).map(stateOf);
    if (states.includes('Z') || states.length === 0) return false;
    if (states.every((s) => s === 'T' || s === 't')) return true;
    if (Date.now() > deadline) throw new Error(`process ${pid} not stopped after ${timeoutMs} ms: ${states.join('')}`);
    // This helper's poll interval (not a sleep as synchronisation): the deadline above bounds it.
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Socket inode -> remote (client) port of the TCP connections (not listeners) whose local port is
 * one of `ports`. Asks the kernel through `ss` (sock_diag, filtered in the kernel): reading the
 * whole /proc/net/tcp of a busy machine takes seconds, and a test process stalled that long makes
 * its keep-alive clients look idle to a draining worker. Falls back to /proc, read asynchronously.
 */
async function connectionInodes(pid: number, ports: number[]): Promise<Map<string, number>> {
  const inodes = new Map<string, number>();
  const filter = `( ${ports.map((p) => `sport = :${p}`).join(' or ')} )`;
  try {
    const { stdout } = await execFileAsync('ss', ['-tnHe', 'state', 'connected', filter], { maxBuffer: 64 << 20 });
    for (const line of stdout.split('\n')) {
      const cols = line.trim().split(/\s+/);
      const ino = /\bino:(\d+)/.exec(line);
      if (cols.length < 5 || !ino) continue;
      inodes.set(ino[1]!, Number(cols[4]!.slice(cols[4]!.lastIndexOf(':') + 1)));
    }
    return inodes;
  } catch {
    // no ss: the /proc tables (same network namespace as the workers), off the event loop
  }
  const wanted = new Set(ports);
  for (const table of ['tcp', 'tcp6']) {
    const text = await fs.promises.readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10) continue;
      const localPort = Number.parseInt(cols[1]!.split(':')[1]!, 16);
      const listening = cols[3] === '0A';
      if (!listening && wanted.has(localPort)) inodes.set(cols[9]!, Number.parseInt(cols[2]!.split(':')[1]!, 16));
    }
  }
  return inodes;
}

/**
 * Client connections (on the listeners' `ports`) that process `pid` holds open: its socket fds
 * whose inode is an accepted TCP connection on one of those ports, as the clients' ports.
 * Exact for a frozen process.
 */
export async function heldConnections(pid: number, ports: number[]): Promise<number[]> {
  const ours = await connectionInodes(pid, ports);
  let fds: string[];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  const held: number[] = [];
  for (const fd of fds) {
    let target: string;
    try {
      target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    const m = /^socket:\[(\d+)\]$/.exec(target);
    const clientPort = m ? ours.get(m[1]!) : undefined;
    if (clientPort !== undefined) held.push(clientPort);
  }
  return held;
}

/** Resident set size in bytes (VmRSS of /proc/PID/status). */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readOrNull(`/proc/${pid}/status`) ?? '');
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

/** Children of `ppid` that are zombies (exited, not yet reaped), by scanning /proc. */
export function zombieChildren(ppid: number): number[] {
  const zombies: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readOrNull(`/proc/${name}/stat`);
    if (stat === null) continue;
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest[0] === 'Z' && Number(rest[1]) === ppid) zombies.push(Number(name));
  }
  return zombies;
}
