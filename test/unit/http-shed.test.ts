// Unit: a worker's side of keep-alive rebalancing (the HTTP protocol's shed). After the master's
// order, keep-alive responses answer `Connection: close` while the worker holds more connections
// than its target, counting the clients that came back to it, and at most 3x the excess.
// Runs in: the test runner, which plays both the worker (the protocol's server) and the clients.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as net from 'node:net';
import { after, afterEach, mock, test } from 'node:test';
import { start, type Running } from '../fixtures/http-helpers.js';
import { waitUntil } from '../helpers/raas.js';

/**
 * The shed's clock (Date.now) stopped, moved only by `tick`: the 10 ms spacing between two
 * connections let go is tested without waiting for it (timers stay real: sockets need them).
 */
function stopClock(): void {
  mock.timers.enable({ apis: ['Date'], now: Date.now() });
}
const tick = (ms: number): void => mock.timers.tick(ms);
afterEach(() => mock.timers.reset());

/** One keep-alive client connection asking GET /reverse in turn. */
class KeepAliveClient {
  private readonly socket: net.Socket;
  private received = '';

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setEncoding('latin1');
    this.socket.on('data', (chunk: string) => (this.received += chunk));
    this.socket.on('error', () => {});
  }

  async connected(): Promise<this> {
    await once(this.socket, 'connect');
    return this;
  }

  /** One request; whether the response told the client to close the connection. */
  async get(): Promise<boolean> {
    this.received = '';
    this.socket.write('GET /reverse?s=ab HTTP/1.1\r\nHost: t\r\n\r\n');
    for (const deadline = Date.now() + 5000; ; ) {
      const end = this.received.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: (\d+)/i.exec(this.received);
      if (end !== -1 && length && this.received.length >= end + 4 + Number(length[1])) break;
      assert.ok(Date.now() < deadline, `no whole response: ${JSON.stringify(this.received)}`);
      await once(this.socket, 'data');
    }
    return /\r\nconnection: close\r\n/i.test(this.received);
  }

  close(): void {
    this.socket.destroy();
  }
}

const running: Running[] = [];
const clients: KeepAliveClient[] = [];
after(async () => {
  for (const c of clients) c.close();
  for (const r of running) await r.protocol.drain();
});

/** A worker's HTTP server holding `n` keep-alive connections, each with one request answered. */
async function holding(n: number): Promise<{ srv: Running; conns: KeepAliveClient[] }> {
  const srv = await start();
  running.push(srv);
  const conns = await Promise.all(Array.from({ length: n }, () => new KeepAliveClient(srv.port).connected()));
  clients.push(...conns);
  for (const c of conns) assert.equal(await c.get(), false, 'keep-alive before any order');
  return { srv, conns };
}

const openOn = (srv: Running): Promise<number> =>
  new Promise((resolve, reject) => srv.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));

test('sheds down to the target when the closed clients go elsewhere', async () => {
  const { srv, conns } = await holding(10);
  stopClock();
  srv.protocol.shed!(4, 6);
  const closes: boolean[] = [];
  for (const c of conns) {
    tick(12); // one connection let go every 10 ms at most
    closes.push(await c.get());
  }
  assert.deepEqual(closes, [true, true, true, true, false, false, false, false, false, false]);
  assert.equal(srv.logs().filter((l) => l.event === 'rebalance-shed').length, 1);
});

test('lets one connection go every 10 ms at most', async () => {
  const { srv, conns } = await holding(10);
  stopClock();
  srv.protocol.shed!(4, 6);
  assert.equal(await conns[0]!.get(), true, 'the first one at once');
  assert.equal(await conns[1]!.get(), false, 'none in the same millisecond');
  tick(9);
  assert.equal(await conns[2]!.get(), false, 'none 9 ms later');
  tick(1);
  assert.equal(await conns[3]!.get(), true, 'the next one 10 ms after the last');
});

test('keeps shedding while the clients come back to this worker, up to 3x the excess', async () => {
  const { srv, conns } = await holding(10);
  stopClock();
  srv.protocol.shed!(4, 6);
  let closes = 0;
  for (let i = 0; i < 30; i++) {
    tick(12); // one connection let go every 10 ms at most
    const slot = i % conns.length;
    if (await conns[slot]!.get()) {
      closes++;
      // The kernel hands the reconnection to this worker again.
      conns[slot]!.close();
      const again = await new KeepAliveClient(srv.port).connected();
      clients.push(again);
      conns[slot] = again;
      await waitUntil('the reconnection to be accepted', async () => (await openOn(srv)) === 10, 5000, 2);
    }
  }
  assert.equal(closes, 12, 'the live count never fell, so the budget (3 x 4) ended the shed');
});
