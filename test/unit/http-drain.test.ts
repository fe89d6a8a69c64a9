// Tests of the HTTP protocol's graceful drain: /healthz turns 503, in-flight responses finish with
// `Connection: close`, idle keep-alive connections are closed, and drain() resolves only once
// every connection is gone.
// Runs in: the test runner, which plays both the worker (the protocol's servers) and the clients.

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { once } from 'node:events';
import { createHttpProtocol } from '../../src/protocols/http/index.js';
import { Logger } from '../../src/log.js';
import { fixture, request, settings, start } from '../fixtures/http-helpers.js';
import { waitUntil } from '../helpers/raas.js';

/** A raw client connection that records what it receives and when it closes. */
class Conn {
  readonly socket: net.Socket;
  data = '';
  closed = false;
  readonly closedP: Promise<void>;
  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setEncoding('latin1');
    this.socket.on('data', (c: string) => (this.data += c));
    this.socket.on('error', () => {});
    this.closedP = once(this.socket, 'close').then(() => {
      this.closed = true;
    });
  }
  async ready(): Promise<this> {
    await once(this.socket, 'connect');
    return this;
  }
  write(s: string): void {
    this.socket.write(s);
  }
}

/** Waits until `predicate` holds (polled every 5 ms), failing after a generous deadline. */
const until = (what: string, predicate: () => boolean, timeoutMs = 10_000): Promise<void> => waitUntil(what, predicate, timeoutMs, 5);

/** The server side of every connection `server` accepts from now on. */
function accepted(server: net.Server): net.Socket[] {
  const sockets: net.Socket[] = [];
  server.on('connection', (socket: net.Socket) => sockets.push(socket));
  return sockets;
}

/** Resolves with the next request (and its response) the server receives. */
function nextRequest(server: net.Server): Promise<[http.IncomingMessage, http.ServerResponse]> {
  return once(server, 'request') as Promise<[http.IncomingMessage, http.ServerResponse]>;
}

/**
 * Resolves once the draining server refuses a new connection: drain() has closed the listener
 * and gone round the event loop (I/O included), so a drain that did not wait would have resolved.
 */
async function refusing(port: number): Promise<void> {
  await assert.rejects(request(port, { path: '/healthz' }), /ECONNREFUSED/);
}

/** Tracks whether a promise has settled yet. */
function track(p: Promise<unknown>): { done: boolean } {
  const state = { done: false };
  void p.then(() => (state.done = true));
  return state;
}

test('drain() resolves for servers that never listened, and is idempotent', async () => {
  const protocol = await createHttpProtocol({ settings: settings(), log: new Logger({ role: 'test' }), slot: 0 });
  protocol.createServer();
  protocol.createServer();
  const first = protocol.drain();
  assert.equal(protocol.drain(), first);
  await first;
});

test('/healthz turns 503 once draining; new connections are refused', async () => {
  const srv = await start();
  const sockets = accepted(srv.server);
  // A request whose head is half sent keeps its connection busy, so drain leaves it open.
  const conn = await new Conn(srv.port).ready();
  const head = 'GET /healthz HTTP/1.1\r\nHost: x\r\n';
  conn.write(head);
  await until('the server read the half head', () => sockets.some((s) => s.bytesRead >= head.length));
  const drained = srv.protocol.drain();
  const state = track(drained);
  await assert.rejects(request(srv.port, { path: '/healthz' }), /ECONNREFUSED/);
  assert.equal(state.done, false);
  conn.write('\r\n');
  await conn.closedP;
  assert.match(conn.data, /^HTTP\/1\.1 503 /);
  assert.match(conn.data, /\r\nConnection: close\r\n/);
  assert.match(conn.data, /draining\n$/);
  await drained;
});

test('an in-flight POST completes with Connection: close and drain resolves after it', async () => {
  const srv = await start();
  const received = nextRequest(srv.server);
  const conn = await new Conn(srv.port).ready();
  conn.write('POST /reverse HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello');
  const [, res] = await received;
  const drained = srv.protocol.drain();
  const state = track(drained);
  // What the drain had sent when it resolved: it must not resolve before the response is out.
  const finishedAtDrain = drained.then(() => res.writableFinished);
  await refusing(srv.port);
  assert.equal(state.done, false, 'drain waits for the in-flight request');
  conn.write('world');
  await conn.closedP;
  assert.match(conn.data, /^HTTP\/1\.1 200 /);
  assert.match(conn.data, /\r\nConnection: close\r\n/);
  assert.match(conn.data, /dlrowolleh$/);
  assert.equal(await finishedAtDrain, true, 'drain resolved before the in-flight response was sent');
});

test('an idle keep-alive connection is closed by drain at once', async () => {
  const srv = await start({ keepAliveTimeout: 30 });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let socket: net.Socket | null = null;
  agent.on('free', (s: net.Socket) => (socket = s));
  assert.equal((await request(srv.port, { path: '/healthz', agent })).status, 200);
  assert.ok(socket);
  (socket as net.Socket).ref(); // the agent unrefs idle sockets: keep the test alive until close
  const closed = once(socket as net.Socket, 'close');
  const began = Date.now();
  await srv.protocol.drain();
  await closed;
  // At once, not after keepAliveTimeout (30 s); the bound leaves room for a loaded machine.
  assert.ok(Date.now() - began < 15_000, `drain took ${Date.now() - began} ms`);
  agent.destroy();
});

test('a connection that has not sent its first byte is not idle: drain serves its request (until headers-timeout)', async () => {
  const srv = await start({ headersTimeout: 30 });
  const sockets = accepted(srv.server);
  // Connected, silent: a client descheduled between connect() and its write.
  const conn = await new Conn(srv.port).ready();
  await until('the server accepted it', () => sockets.length === 1);
  // A witness: a keep-alive connection idle once its response is read, which the drain's idle
  // sweep closes after one whole sweep (IDLE_SWEEP_MS) without a byte. Its close proves that the
  // sweeps which would close an idle connection have judged the silent one too.
  const witness = await new Conn(srv.port).ready();
  witness.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  await until('the witness got its response', () => /^HTTP\/1\.1 200 [^]*\r\n\r\nok\n$/.test(witness.data));
  const drained = srv.protocol.drain();
  const state = track(drained);
  await until('the idle sweep to close the witness', () => witness.closed, 15_000);
  // Server side: the sweep destroys a socket at once, before its client hears of it.
  assert.equal(sockets[0]!.destroyed, false, 'the silent new connection was closed by the drain');
  assert.equal(conn.closed, false, 'the silent new connection was closed by the drain');
  assert.equal(state.done, false);
  conn.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  await conn.closedP;
  assert.match(conn.data, /^HTTP\/1\.1 503 /);
  assert.match(conn.data, /\r\nConnection: close\r\n/);
  await drained;
});

test('a connection that never sends is closed by drain once headers-timeout has passed', async () => {
  const srv = await start({ headersTimeout: 0.5 });
  const sockets = accepted(srv.server);
  const conn = await new Conn(srv.port).ready();
  await until('the server accepted it', () => sockets.length === 1);
  await srv.protocol.drain();
  await conn.closedP;
  // Closed by the sweep, or answered 408 by node's own headers-timeout check, whichever runs first.
  assert.match(conn.data, /^$|^HTTP\/1\.1 408 /);
});

test('a slow app response in flight completes with Connection: close, then drain resolves', async () => {
  const srv = await start({ app: fixture('http-plain-app.mjs') });
  const received = nextRequest(srv.server);
  const reply = request(srv.port, { path: '/slow?ms=300' });
  const [, res] = await received;
  // The app answers after 300 ms: whatever the load, a drain that did not wait for it resolves
  // first (checked when it resolves, not after a guessed pause).
  const finishedAtDrain = srv.protocol.drain().then(() => res.writableFinished);
  const r = await reply;
  assert.equal(r.text, 'slow done');
  assert.equal(r.headers.connection, 'close');
  assert.equal(await finishedAtDrain, true, 'drain resolved before the in-flight response was sent');
});

test('a response whose keep-alive head went out before the drain still closes its connection', async () => {
  const srv = await start({ app: fixture('http-plain-app.mjs'), keepAliveTimeout: 30 });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const received = nextRequest(srv.server);
  const reply = request(srv.port, { path: '/head-then-slow?ms=200', agent });
  const [, res] = await received;
  await until('the keep-alive head is on the wire', () => res.headersSent);
  const began = Date.now();
  const drained = srv.protocol.drain();
  const r = await reply;
  assert.equal(r.text, 'slow');
  assert.equal(r.headers.connection, 'keep-alive');
  await drained; // not after keepAliveTimeout (30 s): the connection was closed once idle
  assert.ok(Date.now() - began < 15_000, `drain took ${Date.now() - began} ms`);
  agent.destroy();
});

test('headersTimeout is still enforced while draining: a slowloris cannot hold the drain', async () => {
  const srv = await start({ headersTimeout: 0.5 });
  const conn = await new Conn(srv.port).ready();
  conn.write('GET /healthz HTTP/1.1\r\n');
  const trickle = setInterval(() => conn.write('X-Slow: y\r\n'), 100);
  const began = Date.now();
  await srv.protocol.drain();
  clearInterval(trickle);
  await conn.closedP;
  assert.match(conn.data, /^HTTP\/1\.1 408 /);
  // Bounded by headersTimeout (0.5 s) although the trickle never stops; generous for a loaded machine.
  assert.ok(Date.now() - began < 15_000, `drain took ${Date.now() - began} ms`);
});
