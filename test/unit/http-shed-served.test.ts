// Unit: the rebalance shed and the drain's `Connection: close` are per-server state, said on each
// served server's own request path (src/protocols/http/shed.ts): no Node prototype changes, a
// server of the process RAAS does not serve keeps its keep-alive, and an app's own server
// (zero-code mode, app-servers.ts) is marked before its handler runs, with node:http, Express and
// Fastify alike, `Expect: 100-continue` included.
// Runs in: the test runner, which plays the worker (the protocol's and the app's servers) and the clients.

import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import express from 'express';
import Fastify from 'fastify';
import { Logger } from '../../src/log.js';
import { NO_STATS } from '../../src/protocols/types.js';
import { IdleCloser } from '../../src/protocols/http/idle-closer.js';
import { KeepAliveShed, servedServer } from '../../src/protocols/http/shed.js';
import { serveAppServer } from '../../src/protocols/http/app-servers.js';
import { start, tmpDir, type Running } from '../fixtures/http-helpers.js';
import { waitUntil } from '../helpers/raas.js';

/** One keep-alive connection; each ask() sends one request and returns the response's head. */
class Conn {
  readonly socket: net.Socket;
  private received = '';

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setEncoding('latin1');
    this.socket.on('data', (chunk: string) => (this.received += chunk));
    this.socket.on('error', () => {});
  }

  async ready(): Promise<this> {
    await once(this.socket, 'connect');
    return this;
  }

  /** Sends `head` (and `body` once the server said 100 Continue, if it was asked); the final response's head. */
  async ask(head: string, body = ''): Promise<string> {
    this.received = '';
    this.socket.write(head);
    const deadline = Date.now() + 5000;
    const waitFor = async (done: () => boolean): Promise<void> => {
      while (!done()) {
        assert.ok(Date.now() < deadline, `no response: ${JSON.stringify(this.received)}`);
        await Promise.race([once(this.socket, 'data'), once(this.socket, 'close')]);
        assert.ok(!this.socket.destroyed || done(), `closed: ${JSON.stringify(this.received)}`);
      }
    };
    if (/expect: 100-continue/i.test(head)) {
      await waitFor(() => this.received.includes('\r\n\r\n'));
      assert.match(this.received, /^HTTP\/1\.1 100 Continue\r\n\r\n/);
      this.received = this.received.slice(this.received.indexOf('\r\n\r\n') + 4);
      this.socket.write(body);
    }
    await waitFor(() => {
      const end = this.received.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: (\d+)/i.exec(this.received);
      return end !== -1 && length !== null && this.received.length >= end + 4 + Number(length[1]);
    });
    return this.received.slice(0, this.received.indexOf('\r\n\r\n'));
  }
}

const closes = (head: string): boolean => /\r\nconnection: close(\r\n|$)/i.test(head);
const GET = (p: string): string => `GET ${p} HTTP/1.1\r\nHost: t\r\n\r\n`;

const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

async function listening(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanup.push(() => {
    server.close();
    (server as http.Server).closeAllConnections?.();
  });
  return (server.address() as net.AddressInfo).port;
}

async function conn(port: number): Promise<Conn> {
  const c = await new Conn(port).ready();
  cleanup.push(() => c.socket.destroy());
  return c;
}

/** Every own property of the prototypes node:http and node:net serve with, by identity. */
function prototypes(): Map<string, unknown> {
  const protos: Record<string, object> = {
    ServerResponse: http.ServerResponse.prototype,
    OutgoingMessage: http.OutgoingMessage.prototype,
    IncomingMessage: http.IncomingMessage.prototype,
    'http.Server': http.Server.prototype,
    'net.Server': net.Server.prototype,
    'net.Socket': net.Socket.prototype,
    EventEmitter: EventEmitter.prototype,
  };
  const out = new Map<string, unknown>();
  for (const [name, proto] of Object.entries(protos)) {
    for (const key of Reflect.ownKeys(proto)) {
      const d = Object.getOwnPropertyDescriptor(proto, key)!;
      out.set(`${name}.${String(key)}`, d.value ?? d.get ?? d.set);
    }
  }
  return out;
}

test('serving, shedding and draining change no Node prototype', async () => {
  const before = prototypes();
  const srv = await start();
  const c = await conn(srv.port);
  assert.equal(closes(await c.ask(GET('/reverse?s=ab'))), false);
  srv.protocol.shed!(1, 0);
  assert.equal(closes(await c.ask(GET('/reverse?s=ab'))), true, 'the shed let this one go');
  await srv.protocol.drain();
  const changed = [...prototypes()].filter(([key, v]) => before.get(key) !== v).map(([key]) => key);
  assert.deepEqual(changed, []);
});

test("a server RAAS does not serve keeps its keep-alive through the worker's shed and drain", async () => {
  const srv: Running = await start();
  const held = await Promise.all([1, 2, 3].map(() => conn(srv.port)));
  for (const c of held) await c.ask(GET('/healthz'));
  const theirs = http.createServer((_req, res) => res.end('theirs'));
  const other = await conn(await listening(theirs));

  srv.protocol.shed!(3, 0); // 3 to let go: a budget of 9, one every 10 ms
  assert.equal(closes(await other.ask(GET('/'))), false, "the shed closed a connection of a server it does not serve");
  assert.equal(closes(await held[0]!.ask(GET('/healthz'))), true, 'the shed is live on the served server');
  const drained = srv.protocol.drain();
  assert.equal(closes(await other.ask(GET('/'))), false, 'the drain closed a connection of a server it does not serve');
  for (const c of held.slice(1)) c.socket.destroy();
  await drained;
});

/** The three kinds of app servers a zero-code app brings. */
const apps: Record<string, () => Promise<net.Server>> = {
  'node:http': async () =>
    http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end('plain'));
    }),
  Express: async () => {
    const app = express();
    app.get('/', (_req, res) => res.send('express'));
    app.post('/', (req, res) => {
      req.resume();
      req.on('end', () => res.send('posted'));
    });
    return http.createServer(app);
  },
  Fastify: async () => {
    const fastify = Fastify();
    fastify.get('/', async () => ({ app: 'fastify' }));
    fastify.post('/', async () => ({ posted: true }));
    await fastify.ready();
    cleanup.push(() => fastify.close());
    return fastify.server;
  },
};

describe("an app's own server (zero-code mode)", () => {
  const log = new Logger({ role: 'worker', pid: process.pid }, path.join(tmpDir(), 'raas.log'));
  const count = (): void => {};

  for (const [name, make] of Object.entries(apps)) {
    test(`${name}: the shed and the drain close its connections, automatic 100 Continue kept`, async () => {
      const server = await make();
      const idle = new IdleCloser();
      let open = 10;
      const shed = new KeepAliveShed(() => open, log);
      serveAppServer(server, { idle, shed, stats: NO_STATS, count, accessLog: null }, 0);
      const port = await listening(server);
      assert.equal(server.listenerCount('checkContinue'), 0, 'a listener of ours there would turn off the automatic 100 Continue');

      const c = await conn(port);
      assert.equal(closes(await c.ask(GET('/'))), false, 'keep-alive before any order');
      shed.order(1, 9);
      assert.equal(closes(await c.ask(GET('/'))), true, 'the shed marked the response before the app wrote it');
      const again = await conn(port);
      open = 9; // down to the target: the shed stops
      assert.equal(closes(await again.ask(GET('/'))), false);
      const post = 'POST / HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n';
      assert.equal(closes(await again.ask(post, 'hi')), false);

      const inFlight = await conn(port);
      const head = inFlight.ask('POST / HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n');
      // Waits (with a deadline) until the server has that request and holds its response open.
      await waitUntil('the request to reach the app', () => idle.responses(server).length > 0, 5000, 2);
      servedServer(server)!.drain(idle.responses(server));
      inFlight.socket.write('hi');
      assert.equal(closes(await head), true, 'a response in flight when the drain began says close');
      assert.equal(closes(await again.ask(GET('/'))), true, 'a response after the drain began says close');
    });
  }

  test("an app that listens for 'checkContinue' has its responses marked there too, and only while it listens", async () => {
    const server = http.createServer((_req, res) => res.end('plain'));
    const idle = new IdleCloser();
    const shed = new KeepAliveShed(() => 10, log);
    serveAppServer(server, { idle, shed, stats: NO_STATS, count, accessLog: null }, 0);
    const onContinue = (_req: http.IncomingMessage, res: http.ServerResponse): void => {
      res.writeContinue();
      _req.resume();
      _req.on('end', () => res.end('continued'));
    };
    server.on('checkContinue', onContinue);
    assert.equal(server.listenerCount('checkContinue'), 2);
    assert.notEqual(server.listeners('checkContinue')[0], onContinue, 'ours runs first');
    const port = await listening(server);
    const c = await conn(port);
    const post = 'POST / HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n';
    assert.equal(closes(await c.ask(post, 'hi')), false);
    shed.order(1, 0);
    assert.equal(closes(await c.ask(post, 'hi')), true, "the shed marked a response of the app's checkContinue");
    server.removeListener('checkContinue', onContinue);
    assert.equal(server.listenerCount('checkContinue'), 0, 'ours left with the app’s');
  });
});
