// The master's listening sockets: bound here, never listened on or accepted from here.
// Workers (and a re-exec'd master) receive them as inherited file descriptors.
// Runs in: master.
//
// A master that calls listen() on a socket polls it and accepts connections itself (a quarter of
// them in a test). So the master only binds, through the same internal helper Node's cluster
// module uses; the first worker's listen(2) puts the socket in LISTEN state, and from then on the
// kernel queue lives as long as the master holds the fd, whatever happens to the workers.

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as util from 'node:util';
import { parseListenAddress, type ListenAddress } from '../../config/listen-address.js';
import { errorMessage } from '../../errors.js';

/** The libuv handle Node wraps a socket in; we only need its fd, its address and close(). */
interface RawHandle {
  fd: number;
  close(cb?: () => void): void;
  getsockname?(out: Record<string, unknown>): number;
}

export interface BoundListener {
  /** Opaque to the master, carried to the workers: 'line' or 'http'. */
  protocol: string;
  /** The address as configured (normalized), to match it against a reloaded config. */
  spec: string;
  /** What the socket is really bound to (the port when 0 was asked for); used in logs. */
  bound: string;
  /** The socket file to remove at final shutdown; null when it is not ours to remove. */
  unixPath: string | null;
  fd: number;
  /** Null for a socket inherited as a bare fd (from a previous master or systemd). */
  handle: RawHandle | null;
}

type CreateServerHandle = (address: string, port: number, addressType: number) => RawHandle | number;

function createServerHandle(): CreateServerHandle {
  const fn = (net as unknown as { _createServerHandle?: unknown })._createServerHandle;
  if (typeof fn !== 'function') {
    throw new Error(
      `this Node.js (${process.version}) has no net._createServerHandle, which RAAS needs to bind a socket without accepting on it`,
    );
  }
  return fn as CreateServerHandle;
}

/** `socketMode`: permissions given to a Unix socket file right after bind (see applySocketMode). */
export async function bindListener(address: ListenAddress, socketMode?: number): Promise<BoundListener> {
  const create = createServerHandle();
  let result: RawHandle | number;
  if (address.kind === 'unix') {
    await removeStaleUnixSocket(address.path);
    result = create(address.path, -1, -1);
  } else {
    result = create(address.host, address.port, address.family);
  }
  if (typeof result === 'number') {
    const name = util.getSystemErrorName(result);
    throw new Error(`cannot bind ${address.spec}: ${name}`);
  }
  verifyBound(address, result);
  if (address.kind === 'unix' && socketMode !== undefined) applySocketMode(address.path, socketMode, result);
  return {
    protocol: address.protocol,
    spec: address.spec,
    bound: describeBound(address, result),
    unixPath: address.kind === 'unix' ? address.path : null,
    fd: result.fd,
    handle: result,
  };
}

/**
 * Final shutdown (no successor master holds the sockets): close them and remove Unix socket files.
 * A master handing over to a new one must not call this: libuv would unlink the path the new
 * master is serving on.
 */
export function closeListener(listener: BoundListener): void {
  listener.handle?.close();
  if (listener.handle === null) {
    try {
      fs.closeSync(listener.fd);
    } catch {
      // already closed
    }
  }
  if (listener.unixPath !== null) {
    try {
      fs.unlinkSync(listener.unixPath);
    } catch {
      // gone already
    }
  }
}

/**
 * bind(2) creates the socket file with the umask's permissions (world-connectable under umask 000):
 * set them explicitly. Nothing can connect before this, since no worker has called listen(2) yet.
 */
function applySocketMode(path: string, mode: number, handle: RawHandle): void {
  try {
    fs.chmodSync(path, mode);
  } catch (err) {
    handle.close();
    throw new Error(`cannot set mode ${mode.toString(8).padStart(4, '0')} on unix:${path}: ${errorMessage(err)}`);
  }
}

/**
 * Removes a socket file nothing answers on (a crashed run); refuses to touch a live one (code
 * EADDRINUSE: the admin listener waits for it) or anything that is not a socket (ENOTSOCK).
 */
async function removeStaleUnixSocket(path: string): Promise<void> {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(path);
  } catch {
    return;
  }
  if (!stat.isSocket()) throw Object.assign(new Error(`cannot bind unix:${path}: the path exists and is not a socket`), { code: 'ENOTSOCK' });
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code !== 'ECONNREFUSED'));
  });
  if (live) throw Object.assign(new Error(`cannot bind unix:${path}: something is already serving on it`), { code: 'EADDRINUSE' });
  fs.unlinkSync(path);
}

/**
 * libuv defers a TCP bind error (EADDRINUSE, EADDRNOTAVAIL) to listen(), and listen(2) on a
 * socket that is not bound binds it to a random port on every interface. So a bind is only
 * believed once getsockname says so: libuv reports the deferred error there, and an unbound
 * socket shows port 0. On failure the handle is closed and the error names the address.
 */
function verifyBound(address: ListenAddress, handle: RawHandle): void {
  if (address.kind === 'unix' || !handle.getsockname) return; // uv_pipe_bind fails at once
  const out: Record<string, unknown> = {};
  const err = handle.getsockname(out);
  let problem: string | null = null;
  if (err !== 0) problem = util.getSystemErrorName(err);
  else if (out.port === 0 || (address.port !== 0 && out.port !== address.port)) {
    problem = `the socket is bound to port ${String(out.port)}, not ${address.port}`;
  }
  if (problem === null) return;
  handle.close();
  throw new Error(`cannot bind ${address.spec}: ${problem}`);
}

function describeBound(address: ListenAddress, handle: RawHandle): string {
  if (address.kind === 'unix' || !handle.getsockname) return address.spec;
  const out: Record<string, unknown> = {};
  if (handle.getsockname(out) !== 0) return address.spec;
  const host = address.family === 6 ? `[${String(out.address)}]` : String(out.address);
  return `${address.protocol}://${host}:${String(out.port)}`;
}

/**
 * The listeners a (reloaded) config asks for: sockets already held are kept (matched by the
 * configured or the bound address), new ones are bound. Nothing is closed here; if a bind fails,
 * the sockets bound so far are closed and the error is thrown.
 */
export async function reconcileListeners(
  current: readonly BoundListener[],
  specs: readonly string[],
  bind: (address: ListenAddress) => Promise<BoundListener>,
): Promise<BoundListener[]> {
  const result: BoundListener[] = [];
  const fresh: BoundListener[] = [];
  try {
    for (const spec of specs) {
      const address = parseListenAddress(spec);
      const kept = current.find((l) => l.spec === address.spec || l.bound === address.spec);
      if (kept) {
        result.push(kept);
      } else {
        const bound = await bind(address);
        fresh.push(bound);
        result.push(bound);
      }
    }
  } catch (err) {
    for (const listener of fresh) closeListener(listener);
    throw err;
  }
  return result;
}
