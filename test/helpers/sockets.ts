// Socket helpers for tests: a free loopback port, the kernel accept queue of a listening
// socket (to prove connections wait in it while no worker exists), and a wait until the server
// has read what a client wrote (so that the next write is a read of its own on the server).
// Runs in: the test runner process.

import * as fs from 'node:fs';
import * as net from 'node:net';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ownSocketInode, unixPeerUnread } from './proc-sockets.js';
import { waitUntil } from './raas.js';

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

/**
 * Whether the server end of this client socket (loopback TCP or Unix, on this machine) has read
 * every byte the client wrote: nothing left in Node's buffer, nothing unacknowledged in the
 * client's send queue, the server's end connected and its receive queue empty.
 */
export async function peerHasRead(socket: net.Socket): Promise<boolean> {
  if (socket.writableLength > 0) return false;
  if (socket.remotePort === undefined) {
    const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
    return fd !== undefined && fd >= 0 && (await unixPeerUnread(ownSocketInode(fd))) === 0;
  }
  const rows = await connectionRows(socket.localPort!, socket.remotePort);
  const own = rows.find((r) => r.localPort === socket.localPort && r.remotePort === socket.remotePort);
  // The server's end, connected (a TIME_WAIT row of an earlier connection on these ports is not it).
  const peer = rows.find((r) => r.localPort === socket.remotePort && r.remotePort === socket.localPort && (r.state === 'ESTAB' || r.state === 'CLOSE-WAIT'));
  return own !== undefined && own.sendQ === 0 && peer !== undefined && peer.recvQ === 0;
}

/**
 * Both ends of one loopback TCP connection, as `ss` lists them, filtered by the kernel (sock_diag):
 * a few ms whatever the machine holds, where reading /proc/net/tcp took 70 ms and more with the
 * 10-50k TIME_WAIT rows a CI run leaves (and a header sent in pieces then met the server's timeout).
 */
async function connectionRows(a: number, b: number): Promise<Array<{ state: string; recvQ: number; sendQ: number; localPort: number; remotePort: number }>> {
  const filter = `( sport = :${a} and dport = :${b} ) or ( sport = :${b} and dport = :${a} )`;
  const { stdout } = await promisify(execFile)('ss', ['-Htn', filter], { encoding: 'utf8' });
  const port = (address: string): number => Number(address.slice(address.lastIndexOf(':') + 1));
  return stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((cols) => cols.length >= 5)
    .map((cols) => ({ state: cols[0]!, recvQ: Number(cols[1]), sendQ: Number(cols[2]), localPort: port(cols[3]!), remotePort: port(cols[4]!) }));
}

/** Whether the server has read everything this client socket wrote. */
export type ReadProbe = (client: net.Socket) => boolean | Promise<boolean>;

/**
 * A probe for a server in this very process: the server end's own count of the bytes it read
 * (`bytesRead`), exact and cheap, where the kernel's tables (read by `peerHasRead`) cost tens of
 * milliseconds on a machine with many sockets.
 */
export function readsOf(server: net.Server): ReadProbe {
  const ends = new Map<number, net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    const port = socket.remotePort;
    if (port === undefined) return;
    ends.set(port, socket);
    socket.once('close', () => ends.get(port) === socket && ends.delete(port));
  });
  return (client) => {
    const end = client.localPort === undefined ? undefined : ends.get(client.localPort);
    return end !== undefined && end.bytesRead >= client.bytesWritten;
  };
}

/**
 * Waits until the server has read what the client wrote so far, or has closed the connection: the
 * next write then reaches the server as a read of its own (a line split across reads, a header in
 * pieces). A condition (the server's count, or the kernel's queues), not a pause that hopes the
 * server read in the meantime.
 */
export function serverHasRead(socket: net.Socket, probe: ReadProbe = peerHasRead, timeoutMs = 20_000): Promise<void> {
  return waitUntil('the server to read what the client wrote', async () => socket.destroyed || socket.readableEnded || (await probe(socket)), timeoutMs, probe === peerHasRead ? 5 : 1);
}
