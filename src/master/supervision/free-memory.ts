// How much memory the master can see free for one more worker: MemAvailable of /proc/meminfo
// (what the kernel estimates it can give without swapping), and, inside a cgroup v2 with a
// memory limit (a container, a systemd unit with MemoryMax), that limit minus what the group
// uses now, whichever is smaller. Read only when the elastic policy is about to add a worker.
// Runs in: master (behind System.memoryAvailable, so unit tests fake it).

import * as fs from 'node:fs';

/** Bytes free for a new process; null when nothing can be read (not Linux, no /proc). */
export function memoryAvailable(read: (path: string) => string | null = readSmall): number | null {
  const meminfo = read('/proc/meminfo');
  const available = meminfo === null ? null : parseMemAvailable(meminfo);
  const group = cgroupRoom(read);
  if (available === null) return group;
  return group === null ? available : Math.min(available, group);
}

/** `MemAvailable:   1234567 kB` -> bytes; null when the line is missing. */
export function parseMemAvailable(meminfo: string): number | null {
  const match = /^MemAvailable:\s+(\d+)\s*kB$/m.exec(meminfo);
  return match ? Number(match[1]) * 1024 : null;
}

/** The cgroup v2 limit minus current use, for the master's own group; null: no limit or no cgroup v2. */
export function cgroupRoom(read: (path: string) => string | null): number | null {
  // cgroup v2 has one line "0::/path"; v1 lines have controller names and are not read here.
  const line = read('/proc/self/cgroup')?.split('\n').find((l) => l.startsWith('0::'));
  if (line === undefined) return null;
  const dir = `/sys/fs/cgroup${line.slice(3).replace(/\/$/, '')}`;
  const max = read(`${dir}/memory.max`)?.trim();
  const current = read(`${dir}/memory.current`)?.trim();
  if (max === undefined || current === undefined || max === 'max' || !/^\d+$/.test(max) || !/^\d+$/.test(current)) return null;
  return Math.max(0, Number(max) - Number(current));
}

function readSmall(path: string): string | null {
  try {
    return fs.readFileSync(path, 'latin1');
  } catch {
    return null;
  }
}
