// Accept-queue depth of the master's own listening sockets: how many connections the kernel has
// completed that no worker has accepted yet. Read at most once a second, never blocking the loop.
// Runs in: master.
//
// TCP (IPv4 and IPv6): getsockopt(TCP_INFO) on the master's own fd, through the fdutil addon
// (native/fdutil.c): the queue's length and its limit in one syscall. Without the addon:
// /proc/net/tcp{,6}, whose rx_queue column is the accept-queue length for a LISTEN socket, matched
// by the inode behind the master's fd (/proc/self/fd/N). The kernel lists LISTEN sockets first, so
// the read stops at the first other state; but the kernel still walks its whole socket tables to
// produce a table that has no LISTEN line past the first ones (tcp6 on an IPv4 server): measured
// ~10 ms of master CPU per read on a loaded 2-core machine, which is why the addon comes first.
//
// Unix sockets: /proc/net/unix has no queue column. `ss -xlnH` asks the kernel through sock_diag
// (UNIX_DIAG_RQLEN: Recv-Q is the queue, Send-Q the limit). It runs as an asynchronous child
// process, only when a Unix listener exists (measured: ~4 ms wall, ~3 ms master CPU per call,
// i.e. 0.3 % of a core at one call a second). Without `ss` the depth is reported as unknown
// (null). A native sock_diag addon would save the fork; not worth native code at 1 Hz.

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { loadAddon } from '../../native.js';

export interface QueueSample {
  /** Connections waiting to be accepted; null: unknown on this system. */
  depth: number | null;
  /** The queue's limit (what listen(2)'s backlog became); null: unknown. */
  max: number | null;
}

export interface QueueSocket {
  fd: number;
  unix: boolean;
}

const LISTEN_STATE = '0A';
/** Never read more than this from one /proc table, whatever the machine's state. */
const MAX_PROC_BYTES = 4 * 1024 * 1024;
const CHUNK_BYTES = 64 * 1024;
const SS_TIMEOUT_MS = 2000;

type ListenQueue = (fd: number) => [number, number] | undefined;
let nativeReader: ListenQueue | null | undefined;

/** The fdutil addon's TCP_INFO reader; null when the addon was not built (then /proc serves). */
export function nativeListenQueue(): ListenQueue | null {
  if (nativeReader !== undefined) return nativeReader;
  // Not built, or RAAS_NATIVE=0: the /proc tables serve.
  const reader = loadAddon<{ listenQueue?: ListenQueue }>('fdutil')?.listenQueue;
  nativeReader = typeof reader === 'function' ? reader : null;
  return nativeReader;
}

/** Samples every socket; `backlog` is the limit asked for (the kernel caps it at somaxconn). */
export async function sampleQueues(sockets: readonly QueueSocket[], backlog: number): Promise<Map<number, QueueSample>> {
  const result = new Map<number, QueueSample>();
  if (process.platform !== 'linux') {
    for (const s of sockets) result.set(s.fd, { depth: null, max: null });
    return result;
  }
  const native = nativeListenQueue();
  const rest: QueueSocket[] = [];
  for (const s of sockets) {
    const q = !s.unix && native ? native(s.fd) : undefined;
    if (q) result.set(s.fd, { depth: q[0], max: q[1] });
    else rest.push(s);
  }
  if (rest.length > 0) await sampleFromTables(rest, backlog, result);
  return result;
}

/** Unix sockets, and TCP without the addon: /proc and ss, matched by inode. */
async function sampleFromTables(sockets: readonly QueueSocket[], backlog: number, result: Map<number, QueueSample>): Promise<void> {
  const inodes = new Map<number, string>();
  await Promise.all(
    sockets.map(async (s) => {
      const link = await fs.promises.readlink(`/proc/self/fd/${s.fd}`).catch(() => '');
      const match = /^socket:\[(\d+)\]$/.exec(link);
      if (match) inodes.set(s.fd, match[1]!);
    }),
  );
  const tcp = sockets.some((s) => !s.unix) ? await tcpListenQueues() : new Map<string, number>();
  const unix = sockets.some((s) => s.unix) ? await unixListenQueues() : null;
  const somaxconn = sockets.some((s) => !s.unix) ? await readSomaxconn() : null;
  for (const s of sockets) {
    const inode = inodes.get(s.fd);
    if (s.unix) {
      const q = inode !== undefined ? unix?.get(inode) : undefined;
      result.set(s.fd, q ?? { depth: null, max: null });
    } else {
      const depth = inode !== undefined ? tcp.get(inode) : undefined;
      result.set(s.fd, { depth: depth ?? null, max: depth === undefined ? null : Math.min(backlog, somaxconn ?? backlog) });
    }
  }
}

/** inode -> accept-queue length of every LISTEN socket in /proc/net/tcp and tcp6. */
export async function tcpListenQueues(): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of await readListenLines(table)) {
      const f = line.trim().split(/\s+/);
      // sl local rem st tx_queue:rx_queue tr:when retrnsmt uid timeout inode
      const queues = f[4]?.split(':');
      if (f[3] !== LISTEN_STATE || !queues || f[9] === undefined) continue;
      out.set(f[9], parseInt(queues[1] ?? '0', 16));
    }
  }
  return out;
}

/** The table's LISTEN lines: read chunk by chunk until the first line in another state. */
async function readListenLines(path: string): Promise<string[]> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(path, 'r');
  } catch {
    return [];
  }
  const lines: string[] = [];
  try {
    const buffer = Buffer.alloc(CHUNK_BYTES);
    let pending = '';
    let header = true;
    for (let total = 0; total < MAX_PROC_BYTES; ) {
      const { bytesRead } = await handle.read(buffer, 0, CHUNK_BYTES, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      const parts = (pending + buffer.toString('latin1', 0, bytesRead)).split('\n');
      pending = parts.pop() ?? '';
      for (const line of parts) {
        if (header) {
          header = false;
          continue;
        }
        if (line.trim().split(/\s+/)[3] !== LISTEN_STATE) return lines;
        lines.push(line);
      }
    }
  } finally {
    await handle.close();
  }
  return lines;
}

/** inode -> queue of every listening Unix socket, from `ss -xlnH`; null when ss is unavailable. */
export function unixListenQueues(): Promise<Map<string, QueueSample> | null> {
  return new Promise((resolve) => {
    execFile('ss', ['-xlnH'], { timeout: SS_TIMEOUT_MS, maxBuffer: 8 * 1024 * 1024 }, (err, stdout) => {
      if (err) return resolve(null);
      resolve(parseSsUnix(stdout));
    });
  });
}

/** `u_str LISTEN 0 511 /path/with maybe spaces 191887 * 0` -> inode 191887: {0, 511}. */
export function parseSsUnix(text: string): Map<string, QueueSample> {
  const out = new Map<string, QueueSample>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    // The last three fields are: local inode, peer address ("*"), peer inode.
    if (f.length < 7 || f[1] !== 'LISTEN') continue;
    const inode = f[f.length - 3]!;
    out.set(inode, { depth: Number(f[2]), max: Number(f[3]) });
  }
  return out;
}

async function readSomaxconn(): Promise<number | null> {
  try {
    const n = parseInt(await fs.promises.readFile('/proc/sys/net/core/somaxconn', 'utf8'), 10);
    return Number.isFinite(n) ? n : null;
  } catch {
    return null;
  }
}
