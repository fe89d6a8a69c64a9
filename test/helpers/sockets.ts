// Socket helpers for tests: a free loopback port, and the kernel accept queue of a listening
// socket (to prove connections wait in it while no worker exists).
// Runs in: the test runner process.

import * as fs from 'node:fs';
import * as net from 'node:net';

/** A loopback TCP port that was free a moment ago (bound to 0, read, closed). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Connections completed by the kernel but accepted by no process yet, on the IPv4 socket
 * listening on `port` (Linux: rx_queue of the LISTEN row of /proc/net/tcp). Null if no such socket.
 */
export function acceptQueueLength(port: number): number | null {
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    const [local, , state, queues] = [cols[1], cols[2], cols[3], cols[4]];
    if (local === undefined || state !== '0A' || !local.endsWith(`:${portHex}`)) continue;
    return parseInt((queues ?? '0:0').split(':')[1] ?? '0', 16);
  }
  return null;
}

/** Resolves with the error code of a connection attempt ('ECONNREFUSED'...), or 'connected'. */
export function probe(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, host);
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}
