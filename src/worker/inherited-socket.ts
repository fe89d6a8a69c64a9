// A worker's inherited listening socket: wrapped in a libuv handle and checked against what the
// master bound before the worker calls listen(2) on it.
// Runs in: workers.
//
// Why check: listen(2) on a socket that is not bound (libuv deferred the master's EADDRINUSE)
// binds it to a random port on every interface. A worker must only ever listen on the socket
// the master bound, bound where the master bound it; anything else refuses the boot.

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as util from 'node:util';
import type { WorkerListener } from '../ipc.js';
import { errorMessage } from '../errors.js';

/** The libuv TCP or Pipe handle Node wraps an fd in; net.Server.listen() accepts it as is. */
export interface ServerHandle {
  fd: number;
  close(cb?: () => void): void;
  getsockname?(out: Record<string, unknown>): number;
}

type CreateServerHandle = (address: null, port: null, addressType: null, fd: number) => ServerHandle | number;

/**
 * Wraps the fd (the same internal net.Server.listen({ fd }) uses) and verifies its address.
 * Throws an Error naming the listener's address when the socket is not what the master bound.
 */
export function adoptListenerSocket(listener: WorkerListener): ServerHandle {
  const create = (net as unknown as { _createServerHandle?: unknown })._createServerHandle;
  if (typeof create !== 'function') {
    throw new Error(`this Node.js (${process.version}) has no net._createServerHandle, which RAAS needs to check inherited sockets`);
  }
  let handle: ServerHandle | number;
  try {
    // With an fd, Node asserts that no address and no port are given (falsy).
    handle = (create as CreateServerHandle)(null, null, null, listener.fd);
  } catch (err) {
    throw refuse(listener, errorMessage(err));
  }
  // EINVAL: the fd is no stream socket (a file, a UDP socket) or not open at all.
  if (typeof handle === 'number') throw refuse(listener, `not a listening socket (${util.getSystemErrorName(handle)})`);
  const problem = mismatch(listener, handle);
  if (problem !== null) {
    // Closing the handle closes the fd: nothing can listen on it by accident afterwards.
    handle.close();
    throw refuse(listener, problem);
  }
  return handle;
}

function refuse(listener: WorkerListener, why: string): Error {
  return new Error(`refusing inherited fd ${listener.fd} for ${listener.address}: ${why}`);
}

/** Null when the socket is bound as the master said, else what differs. */
function mismatch(listener: WorkerListener, handle: ServerHandle): string | null {
  if (listener.path !== undefined) {
    const actual = unixSocketPath(listener.fd);
    if (actual === undefined) return null; // no /proc: nothing to compare with (never on Linux)
    if (actual !== listener.path) return `it is bound to ${actual === null ? 'no path' : actual}, not ${listener.path}`;
    return null;
  }
  if (listener.port === undefined) return null; // an address the master could not describe (systemd)
  if (!handle.getsockname) return 'it is not a TCP socket';
  const out: Record<string, unknown> = {};
  const err = handle.getsockname(out);
  if (err !== 0) return `getsockname: ${util.getSystemErrorName(err)}`;
  const port = Number(out.port);
  const host = canonicalHost(String(out.address));
  if (port === 0) return 'it is not bound (listen(2) would pick a random port on every interface)';
  if (port !== listener.port || (listener.host !== undefined && host !== canonicalHost(listener.host))) {
    return `it is bound to ${out.family === 'IPv6' ? `[${host}]` : host}:${port}`;
  }
  return null;
}

function canonicalHost(host: string): string {
  if (net.isIPv6(host)) {
    try {
      return new URL(`http://[${host}]/`).hostname.slice(1, -1);
    } catch {
      return host.toLowerCase();
    }
  }
  return host;
}

/**
 * The path a Unix socket fd is bound to, read from /proc (Node exposes no getsockname for
 * pipes): null when it is bound to no path, undefined when /proc cannot tell.
 */
function unixSocketPath(fd: number): string | null | undefined {
  let inode: string;
  let table: string;
  try {
    const link = fs.readlinkSync(`/proc/self/fd/${fd}`);
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (!m) return null;
    inode = m[1]!;
    table = fs.readFileSync('/proc/self/net/unix', 'utf8');
  } catch {
    return undefined;
  }
  // Num RefCount Protocol Flags Type St Inode Path (the path may hold spaces: it is the rest).
  for (const line of table.split('\n').slice(1)) {
    const m = /^\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+(\d+)(?: (.*))?$/.exec(line.trim());
    if (m && m[1] === inode) return m[2] ?? null;
  }
  return null;
}
