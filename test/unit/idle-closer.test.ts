// Unit tests of the drain's idle sweep (src/protocols/http/idle-closer.ts) on real loopback
// servers: which connections it counts and closes, through node:http's own connection list and
// through the per-socket fallback for servers without one.
// Runs in: the node:test runner process (servers and clients on 127.0.0.1).

import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { after, describe, it } from 'node:test';
import { connectionsList, IdleCloser } from '../../src/protocols/http/idle-closer.js';
import { waitUntil } from '../helpers/raas.js';

const cleanups: Array<() => void> = [];
after(() => cleanups.forEach((c) => c()));

function listen(server: net.Server): Promise<number> {
  cleanups.push(() => {
    server.close();
    (server as http.Server).closeAllConnections?.();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
    cleanups.push(() => socket.destroy());
  });
}

/** Sends one keep-alive GET and resolves once its whole response has arrived. */
function request(socket: net.Socket, path = '/'): Promise<void> {
  return new Promise((resolve) => {
    let got = '';
    const onData = (chunk: Buffer): void => {
      got += chunk.toString('latin1');
      if (/\r\n\r\n[^]*done$/.test(got)) {
        socket.off('data', onData);
        resolve();
      }
    };
    socket.on('data', onData);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: t\r\n\r\n`);
  });
}

/** The server's end of each connection it accepts, by the client's local port. */
function serverEnds(server: net.Server): (client: net.Socket) => net.Socket {
  const ends = new Map<number, net.Socket>();
  server.on('connection', (socket: net.Socket) => ends.set(socket.remotePort!, socket));
  return (client) => {
    const end = ends.get(client.localPort!);
    assert.ok(end, `no server end for client port ${client.localPort}`);
    return end;
  };
}

/**
 * Resolves once the closer has swept at least twice more: a new keep-alive connection, idle once
 * its response is read, is closed only by the second sweep that sees it (a witness of sweeps).
 */
async function twoMoreSweeps(port: number): Promise<void> {
  const witness = await connect(port);
  await request(witness);
  await waitUntil('the sweep to close an idle witness connection', () => witness.destroyed, 15_000);
}

const closed = (socket: net.Socket): Promise<void> => new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));

describe('idle closer', { timeout: 30_000 }, () => {
  it("uses node:http's own list of a listening server's connections on this Node", async () => {
    const server = http.createServer();
    assert.equal(connectionsList(server), null, 'node creates the list in listen()');
    await listen(server);
    assert.notEqual(connectionsList(server), null, `no connections list on Node ${process.version}: the idle sweep falls back to a Set per socket`);
  });

  it('counts and sweeps keep-alive connections: idle ones close, busy and silent-new ones stay', async () => {
    let release: (() => void) | null = null;
    const server = http.createServer((req, res) => {
      if (req.url === '/slow') release = () => res.end('done');
      else res.end('done');
    });
    const idle = new IdleCloser();
    idle.watch(server);
    const end = serverEnds(server);
    const port = await listen(server);

    const quiet = await connect(port);
    await request(quiet);
    const busy = await connect(port);
    void request(busy, '/slow');
    const fresh = await connect(port); // connected, never sends a byte
    await waitUntil('three connections counted', () => idle.httpConnections() === 3 && release !== null);

    // A generous first-byte grace: the fresh connection must outlive the sweeps that close `quiet`.
    idle.start(50, 60_000);
    await closed(quiet);
    await twoMoreSweeps(port);
    // Server ends: the sweep destroys a socket at once, before its client hears of it.
    assert.equal(end(busy).destroyed, false, 'a connection with a response in progress is never swept');
    assert.equal(end(fresh).destroyed, false, 'a connection that has not sent its first byte keeps its grace');
    assert.equal(busy.destroyed, false);
    assert.equal(fresh.destroyed, false);
    assert.equal(idle.httpConnections(), 2);

    (release as unknown as () => void)();
    await closed(busy); // idle for a whole sweep once its response is written
    idle.stop();
    assert.equal(fresh.destroyed, false);
  });

  it('closes a connection that never sent a byte once its grace is over', async () => {
    const server = http.createServer((req, res) => res.end('done'));
    const idle = new IdleCloser();
    idle.watch(server);
    const port = await listen(server);
    const fresh = await connect(port);
    await waitUntil('connection counted', () => idle.httpConnections() === 1);
    idle.start(50, 150);
    await closed(fresh);
    idle.stop();
  });

  it('leaves upgraded connections out', async () => {
    const server = http.createServer((req, res) => res.end('done'));
    server.on('upgrade', (req, socket: net.Socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n');
    });
    const idle = new IdleCloser();
    idle.watch(server);
    const end = serverEnds(server);
    const port = await listen(server);
    const upgraded = await connect(port);
    upgraded.write('GET / HTTP/1.1\r\nHost: t\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n');
    await new Promise((resolve) => upgraded.once('data', resolve));
    const plain = await connect(port);
    await request(plain);
    await waitUntil('only the HTTP connection counted', () => idle.httpConnections() === 1);
    idle.start(50, 0);
    await closed(plain);
    await twoMoreSweeps(port);
    assert.equal(end(upgraded).destroyed, false, 'the sweep never closes an upgraded connection');
    assert.equal(upgraded.destroyed, false, 'the sweep never closes an upgraded connection');
    idle.stop();
  });

  it('tracks each socket of a server without a list (an app\'s own net.Server)', async () => {
    const server = net.createServer(() => {});
    const idle = new IdleCloser();
    idle.watch(server);
    const port = await listen(server);
    assert.equal(connectionsList(server), null);
    const a = await connect(port);
    const b = await connect(port);
    await waitUntil('both counted', () => idle.httpConnections() === 2);
    b.destroy();
    await waitUntil('the closed one forgotten', () => idle.httpConnections() === 1);
    a.destroy();
    await waitUntil('none left', () => idle.httpConnections() === 0);
  });
});
