// Listening sockets a master did not bind itself: from the master it replaces (USR2 upgrade) or
// from systemd socket activation (LISTEN_FDS). Both arrive as fds numbered from 3.
// Runs in: master.

import * as fs from 'node:fs';
import { LISTEN_PROTOCOLS, parseListenAddress } from '../../config/listen-address.js';
import type { BoundListener } from '../listeners/listeners.js';

/**
 * Our own hand-over, JSON: [{ "fd": 3, "spec": "line://127.0.0.1:0", "bound": "line://127.0.0.1:41743" }].
 * Both addresses travel: the new master matches its config (which may say port 0) against `spec`.
 */
export const INHERIT_ENV = 'RAAS_INHERIT_FDS';
/** The pid of the master that started us by USR2; it waits to hear we are ready. */
export const PARENT_ENV = 'RAAS_PARENT_MASTER';
const FIRST_FD = 3;

export interface Inheritance {
  source: 'upgrade' | 'systemd';
  listeners: BoundListener[];
}

/** Reads (and removes from the environment, so no child sees them) the inherited sockets. */
export function takeInheritedListeners(env: NodeJS.ProcessEnv = process.env): Inheritance | null {
  const ours = env[INHERIT_ENV];
  delete env[INHERIT_ENV];
  if (ours) {
    const entries = JSON.parse(ours) as Array<{ fd: number; spec: string; bound: string }>;
    const listeners = entries.map(({ fd, spec, bound }) => {
      const address = parseListenAddress(spec);
      // The path stays ours to remove at the final shutdown of whoever serves last.
      const unixPath = address.kind === 'unix' ? address.path : null;
      return { protocol: address.protocol, spec: address.spec, bound, unixPath, fd, handle: null };
    });
    return { source: 'upgrade', listeners };
  }
  return takeSystemdListeners(env);
}

/**
 * systemd socket activation (sd_listen_fds): LISTEN_PID must be us. A socket's protocol comes
 * from its FileDescriptorName= (`line`, `http`, `line+proxy` or `http+proxy`), line when unnamed. The socket files belong to
 * systemd: we never remove them.
 */
function takeSystemdListeners(env: NodeJS.ProcessEnv): Inheritance | null {
  const count = Number(env.LISTEN_FDS);
  const forUs = env.LISTEN_PID === String(process.pid);
  const names = (env.LISTEN_FDNAMES ?? '').split(':');
  for (const key of ['LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES']) delete env[key];
  if (!forUs || !Number.isInteger(count) || count <= 0) return null;
  const listeners: BoundListener[] = [];
  for (let i = 0; i < count; i++) {
    const fd = FIRST_FD + i;
    const name = names[i] ?? '';
    const protocol = (LISTEN_PROTOCOLS as readonly string[]).includes(name) ? name : 'line';
    const bound = `${protocol}://systemd-fd-${fd}`;
    listeners.push({ protocol, spec: bound, bound, unixPath: null, fd, handle: null });
  }
  return { source: 'systemd', listeners };
}

/** The environment entry that hands our sockets to a new master, fds in stdio order from 3. */
export function inheritEnv(listeners: readonly BoundListener[]): string {
  return JSON.stringify(listeners.map((l, i) => ({ fd: FIRST_FD + i, spec: l.spec, bound: l.bound })));
}

/** Closes inherited fds the new config no longer wants. */
export function closeUnwanted(inherited: readonly BoundListener[], kept: readonly BoundListener[]): void {
  for (const listener of inherited) {
    if (kept.includes(listener)) continue;
    try {
      fs.closeSync(listener.fd);
    } catch {
      // already closed
    }
  }
}
