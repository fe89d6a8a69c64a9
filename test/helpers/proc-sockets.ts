// What the kernel says a process listens on: the LISTEN rows of /proc/net/{tcp,tcp6,unix}
// matched to the socket inodes in /proc/<pid>/fd. Linux only; no `ss -p` needed (it shows no
// processes in some sandboxes).
// Runs in: the test runner process.

import * as fs from 'node:fs';

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

function hexToIpv4(hex: string): string {
  const bytes = hex.match(/../g)!.map((b) => parseInt(b, 16)).reverse();
  return bytes.join('.');
}

function hexToIpv6(hex: string): string {
  // Four little-endian 32-bit words.
  const words = hex.match(/.{8}/g)!.map((w) => w.match(/../g)!.reverse().join(''));
  const groups = words.join('').match(/.{4}/g)!.map((g) => parseInt(g, 16).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

/** Every socket in LISTEN state held by one of these pids. */
export function listeningSockets(pids: readonly number[]): ListeningSocket[] {
  const owners = new Map<string, { pid: number; fd: number }>();
  for (const pid of pids) for (const [inode, fd] of socketInodes(pid)) owners.set(inode, { pid, fd });
  const out: ListeningSocket[] = [];
  for (const [file, decode] of [
    ['/proc/net/tcp', (h: string) => hexToIpv4(h)],
    ['/proc/net/tcp6', (h: string) => `[${hexToIpv6(h)}]`],
  ] as const) {
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] !== '0A') continue;
      const owner = owners.get(cols[9] ?? '');
      if (!owner) continue;
      const [ip, port] = (cols[1] ?? ':').split(':');
      out.push({ ...owner, address: `${decode(ip!)}:${parseInt(port!, 16)}` });
    }
  }
  // /proc/net/unix: Num RefCount Protocol Flags Type St Inode Path; St 01 with flag 00010000 = listening.
  for (const line of fs.readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols[3] !== '00010000') continue;
    const owner = owners.get(cols[6] ?? '');
    if (owner) out.push({ ...owner, address: `unix:${cols[7] ?? ''}` });
  }
  return out;
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
