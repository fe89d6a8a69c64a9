// What the kernel says a process listens on: the LISTEN sockets `ss` lists, matched by inode to
// the socket fds in /proc/<pid>/fd. Linux only; no `ss -p` needed (it shows no processes in some
// sandboxes). Also the send and receive queues of connected sockets (what a peer has not read yet).
// Runs in: the test runner process.

import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { promisify } from 'node:util';

export interface ListeningSocket {
  pid: number;
  fd: number;
  /** `127.0.0.1:8080`, `[::1]:8080`, `0.0.0.0:41234` or `unix:/path`. */
  address: string;
}

function socketInodes(pid: number): Map<string, number> {
  const inodes = new Map<string, number>();
  let fds: string[];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.set(m[1]!, Number(fd));
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

/**
 * Every socket in LISTEN state held by one of these pids. The LISTEN rows come from `ss` (the
 * kernel filters them: reading /proc/net/tcp takes seconds on a machine with 100k TIME_WAIT
 * rows), matched by inode to the pids' fds.
 */
export function listeningSockets(pids: readonly number[]): ListeningSocket[] {
  const owners = new Map<string, { pid: number; fd: number }>();
  for (const pid of pids) for (const [inode, fd] of socketInodes(pid)) owners.set(inode, { pid, fd });
  if (owners.size === 0) return [];
  const out: ListeningSocket[] = [];
  for (const [inode, address] of listeningRows()) {
    const owner = owners.get(inode);
    if (owner) out.push({ ...owner, address });
  }
  return out;
}

/** The inode of one of this process's own socket fds (`socket:[N]` in /proc/self/fd). */
export function ownSocketInode(fd: number): string {
  const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/self/fd/${fd}`));
  if (!m) throw new Error(`fd ${fd} is no socket`);
  return m[1]!;
}

/**
 * Where the socket with this inode listens, or null while it is not in LISTEN state. Asks the
 * kernel about the socket itself, so it holds whichever processes share it, and no pid read
 * from /proc can name a different process's sockets.
 */
export function listeningAddressOf(inode: string): string | null {
  return listeningRows().get(inode) ?? null;
}

/** inode → address of every LISTEN socket, TCP and Unix, as `ss` lists them. */
function listeningRows(): Map<string, string> {
  const rows = new Map<string, string>();
  // TCP: `LISTEN 0 511 127.0.0.1:8080 0.0.0.0:* ino:123 sk:...`
  for (const line of execFileSync('ss', ['-Htlne'], { encoding: 'utf8' }).split('\n')) {
    const cols = line.trim().split(/\s+/);
    const inode = /ino:(\d+)/.exec(line)?.[1];
    if (inode !== undefined && cols[3]) rows.set(inode, cols[3]);
  }
  // Unix: `u_str LISTEN 0 511 /path/to.sock 123 * 0 ...` (the socket inode follows the path).
  for (const line of execFileSync('ss', ['-Hxlne'], { encoding: 'utf8' }).split('\n')) {
    const cols = line.trim().split(/\s+/);
    // `-l` also lists unix sockets that are only bound (UNCONN): keep the listening ones.
    if (cols[1] === 'LISTEN' && cols[5] !== undefined) rows.set(cols[5], `unix:${cols[4] ?? ''}`);
  }
  return rows;
}

/** Pids of every process whose parent is one of `pids` (one level), read from /proc. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
      const text = fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    // gone
  }
  return out;
}

export interface TcpRow {
  localPort: number;
  remotePort: number;
  /** The kernel's state in hex: '01' ESTABLISHED, '06' TIME_WAIT, '08' CLOSE_WAIT... */
  state: string;
  /** Bytes written and not yet acknowledged by the peer; bytes received and not yet read. */
  txQueue: number;
  rxQueue: number;
  inode: string;
}

/** Every connected (non-listening) TCP socket of the machine, from /proc/net/tcp{,6}. */
export function tcpRows(): TcpRow[] {
  return parseTcpRows(['/proc/net/tcp', '/proc/net/tcp6'].map((file) => fs.readFileSync(file, 'utf8')));
}

function parseTcpRows(tables: string[]): TcpRow[] {
  const rows: TcpRow[] = [];
  for (const table of tables) {
    for (const row of table.split('\n').slice(1)) {
      const cols = row.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] === '0A') continue;
      const [tx, rx] = cols[4]!.split(':');
      rows.push({
        localPort: parseInt(cols[1]!.split(':').at(-1)!, 16),
        remotePort: parseInt(cols[2]!.split(':').at(-1)!, 16),
        state: cols[3]!,
        txQueue: parseInt(tx!, 16),
        rxQueue: parseInt(rx!, 16),
        inode: cols[9]!,
      });
    }
  }
  return rows;
}

/**
 * Bytes the peer of a Unix stream socket (found by `ss` from our end's inode) has received and
 * not read yet; null when no such peer is listed (not accepted yet, or gone).
 */
export async function unixPeerUnread(ownInode: string): Promise<number | null> {
  const { stdout } = await promisify(execFile)('ss', ['-Hxn'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  // `u_str ESTAB 0 0 /path/to.sock 123 * 456`: Recv-Q, then each end's address and inode.
  for (const line of stdout.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length >= 8 && cols[7] === ownInode) return Number(cols[2]);
  }
  return null;
}
