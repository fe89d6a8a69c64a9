// Tests of the line protocol (src/protocols/line.ts) over real TCP sockets on 127.0.0.1, on the
// native path (native/line-fast.c) when the addon is built; line-protocol-js.test.ts runs this
// same file with RAAS_NATIVE=0 (the JavaScript path).
// Runs in: the test runner, which plays both the worker (the protocol's server) and the clients.

import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { SETTINGS, type Settings } from '../../src/config/settings.js';
import { Logger } from '../../src/log.js';
import { createLineProtocol, type LineProtocol } from '../../src/protocols/line.js';
import { listenLoopbackFd, loadLineFast } from '../../src/protocols/line-native.js';
import type { ProtocolStats } from '../../src/protocols/types.js';
import { WorkerStatsCollector } from '../../src/worker/stats.js';
import { waitUntil } from '../helpers/raas.js';
import { readsOf, serverHasRead, type ReadProbe } from '../helpers/sockets.js';

/** Every setting at its default (so a new setting needs no edit here), then the test's own. */
function settings(overrides: Partial<Settings> = {}): Settings {
  const defaults = Object.fromEntries(SETTINGS.map((s) => [s.key, typeof s.default === 'function' ? s.default() : s.default]));
  return { ...(defaults as unknown as Settings), listen: ['127.0.0.1:0'], workers: 1, workerWatchdog: 'off', ...overrides };
}

const log = new Logger({ role: 'test', pid: process.pid });

/** How to know the server has read what a client sent, by port: the JavaScript server's own count
 *  (the native path reads in C: the kernel's queues tell, the default). */
const readProbes = new Map<number, ReadProbe>();

async function start(
  overrides: Partial<Settings>,
  stats?: ProtocolStats & { setServer?(index: number, server: net.Server): void },
): Promise<{ protocol: LineProtocol; port: number }> {
  const protocol = createLineProtocol({ settings: settings(overrides), log, slot: 0, stats });
  // The native path serves a bare listening fd, as a worker's inherited one.
  const bare = protocol.fastPath === 'native' ? listenLoopbackFd() : null;
  if (bare && protocol.serveFd?.(bare.fd, 511, { listener: 0 })) return { protocol, port: bare.port };
  const server = protocol.createServer({ listener: 0 });
  stats?.setServer?.(0, server);
  const probe = readsOf(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  readProbes.set(port, probe);
  return { protocol, port };
}

/** Tests that read the JavaScript path's own account (bufferedBytes) skip on the native path with this. */
const JS_ACCOUNT_ONLY =
  'reads the JavaScript path\'s account (bufferedBytes); line-protocol-js.test.ts runs it on that path, ' +
  'and the native path has "partial lines over line-buffer-limit are answered ERR server busy"';

/**
 * What a client does, in order: write, half-close, reset, wait until the server has read all it
 * was sent (`R`: the next write is a read of its own), or pause (`wait`: only where time itself is
 * tested, a client silent or trickling against the idle and line timeouts, a latency measured).
 */
type Step = string | Buffer | { end: true } | { read: true } | { wait: number } | { reset: true };

/** The server has read everything so far: the next write reaches it as a read of its own. */
const R = { read: true } as const;

interface Outcome {
  data: Buffer;
  error: string | null;
  ms: number;
}

/** Connects, plays the steps, and collects everything the server sends until the socket closes. */
function talk(port: number, steps: Step[]): Promise<Outcome> {
  return new Promise((resolve) => {
    const began = Date.now();
    const chunks: Buffer[] = [];
    let error: string | null = null;
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
    socket.on('close', () => resolve({ data: Buffer.concat(chunks), error, ms: Date.now() - began }));
    socket.once('connect', async () => {
      for (const step of steps) {
        if (socket.destroyed) return;
        if (typeof step === 'string' || Buffer.isBuffer(step)) socket.write(step);
        else if ('end' in step) socket.end();
        else if ('read' in step) await serverHasRead(socket, readProbes.get(port));
        // time is tested: a client silent or trickling against idle-timeout and line-timeout, and
        // a latency to measure (the only cases with a `wait` step); a split line waits for the
        // server's read instead (R).
        else if ('wait' in step) await sleep(step.wait);
        else socket.resetAndDestroy();
      }
    });
  });
}

async function reply(port: number, steps: Step[]): Promise<string> {
  const outcome = await talk(port, steps);
  assert.equal(outcome.error, null);
  return outcome.data.toString('utf8');
}

/** One byte per write, each read by the server before the next is sent. */
function oneByOne(text: string): Step[] {
  const steps: Step[] = [];
  for (const byte of Buffer.from(text, 'utf8')) steps.push(Buffer.from([byte]), R);
  return steps;
}

let main: { protocol: LineProtocol; port: number };

before(async () => {
  // No line-timeout to speak of: the cases on this server are not about it, and a line sent in
  // pieces waits for each piece to be read (on the native path, the kernel's tables: slow on a
  // busy machine).
  main = await start({ maxLine: 1024, lineTimeout: 120 });
});

after(async () => {
  await main.protocol.drain();
});

test('the path that serves: native when the addon is built, unless RAAS_NATIVE=0', () => {
  const expected = process.env.RAAS_NATIVE !== '0' && loadLineFast() !== null ? 'native' : 'js';
  assert.equal(main.protocol.fastPath, expected);
});

test('a line is answered reversed, then the server closes', async () => {
  const outcome = await talk(main.port, ['hello\n']);
  assert.equal(outcome.error, null);
  assert.equal(outcome.data.toString(), 'olleh\n');
});

test('CRLF is not part of the line', async () => {
  assert.equal(await reply(main.port, ['hello\r\n']), 'olleh\n');
  assert.equal(await reply(main.port, ['\r\n']), '\n');
});

test('an empty line is answered with an empty line', async () => {
  assert.equal(await reply(main.port, ['\n']), '\n');
});

test('a last line without newline is answered after the client half-closes', async () => {
  assert.equal(await reply(main.port, ['abc', { end: true }]), 'cba\n');
  assert.equal(await reply(main.port, ['ab', R, 'c', { end: true }]), 'cba\n');
  assert.equal(await reply(main.port, [{ end: true }]), '\n');
});

test('grapheme clusters survive', async () => {
  assert.equal(await reply(main.port, ['e\u0301a👨‍👩‍👧b🇫🇷🇩🇪👍🏽\n']), '👍🏽🇩🇪🇫🇷b👨‍👩‍👧ae\u0301\n');
});

test('bytes sent one at a time', async () => {
  assert.equal(await reply(main.port, oneByOne('héllo👍🏽\r\n')), '👍🏽olléh\n');
  assert.equal(await reply(main.port, oneByOne('a\rb\n')), 'b\ra\n');
});

test('only the first line is answered', async () => {
  assert.equal(await reply(main.port, ['one\ntwo\n']), 'eno\n');
});

test('a line longer than max-line is refused', async () => {
  const exact = 'y'.repeat(1024);
  assert.equal(await reply(main.port, [exact + '\n']), exact + '\n');
  assert.equal(await reply(main.port, ['y'.repeat(1025) + '\n']), 'ERR line too long\n');
  // The client is still sending a lot when the error comes back: it must still be read.
  const huge = Buffer.alloc(4 * 1024 * 1024, 0x7a);
  assert.equal(await reply(main.port, [huge, '\n', { end: true }]), 'ERR line too long\n');
  const pieces: Step[] = [];
  for (let i = 0; i < 12; i++) pieces.push('y'.repeat(100), R);
  assert.equal(await reply(main.port, pieces), 'ERR line too long\n');
});

test('invalid UTF-8 is refused', async () => {
  assert.equal(await reply(main.port, [Buffer.from([0xff, 0x0a])]), 'ERR invalid UTF-8\n');
  assert.equal(await reply(main.port, [Buffer.from([0x61, 0xc0, 0x80, 0x0a])]), 'ERR invalid UTF-8\n');
  assert.equal(await reply(main.port, [Buffer.from([0xed, 0xa0, 0x80, 0x0a])]), 'ERR invalid UTF-8\n');
  assert.equal(await reply(main.port, [Buffer.from([0x61, 0xe2, 0x82]), { end: true }]), 'ERR invalid UTF-8\n');
});

test('binary garbage and resets mid-line do not break the next client', async () => {
  const garbage = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 37 + 11) & 0xff));
  const noNewline = Buffer.from(garbage.filter((b) => b !== 0x0a));
  await talk(main.port, [noNewline.subarray(0, 1000), R, { reset: true }]);
  await talk(main.port, ['abc', R, { reset: true }]);
  await talk(main.port, [{ reset: true }]);
  const resets = Array.from({ length: 20 }, () => talk(main.port, ['partial line', { reset: true }]));
  await Promise.all(resets);
  await talk(main.port, [garbage]);
  assert.equal(await reply(main.port, ['still alive\n']), 'evila llits\n');
});

test('a silent client is disconnected after idle-timeout', async () => {
  const { protocol, port } = await start({ idleTimeout: 0.2 });
  try {
    const silent = await talk(port, []);
    assert.equal(silent.data.length, 0);
    // The native path defers accept until the first byte (TCP_DEFER_ACCEPT, 1 s): a silent
    // client reaches the worker about a second late, then idle-timeout applies as usual.
    assert.ok(silent.ms >= 150 && silent.ms < 5000, `closed after ${silent.ms} ms`);
    // Activity resets the clock: 3 bytes 100 ms apart outlive one idle period.
    assert.equal(await reply(port, ['a', { wait: 100 }, 'b', { wait: 100 }, 'c\n']), 'cba\n');
    const stalled = await talk(port, ['abc']);
    assert.equal(stalled.data.length, 0);
  } finally {
    await protocol.drain();
  }
});

test('a trickling client is bounded by line-timeout in total, not by idle-timeout per byte', async () => {
  const { protocol, port } = await start({ idleTimeout: 0.3, lineTimeout: 0.6 });
  try {
    // One byte every 50 ms never trips the idle timer; it would take 40 s to finish this line.
    const trickle: Step[] = [];
    for (let i = 0; i < 800; i++) trickle.push('x', { wait: 50 });
    const outcome = await talk(port, trickle);
    assert.equal(outcome.error, null);
    assert.equal(outcome.data.toString(), 'ERR line timeout\n');
    assert.ok(outcome.ms >= 550 && outcome.ms < 5000, `answered after ${outcome.ms} ms`);
    // A line completed before the deadline (in 200 ms of 600) is answered, however it was chunked.
    assert.equal(await reply(port, ['a', { wait: 100 }, 'b', { wait: 100 }, 'c\n']), 'cba\n');
    // Half-close still answers a last line without newline (in pieces, in time).
    assert.equal(await reply(port, ['ab', { wait: 50 }, 'c', { end: true }]), 'cba\n');
    // Idle-timeout still closes a stalled client silently, before the line deadline.
    const stalled = await talk(port, ['abc']);
    assert.equal(stalled.data.length, 0);
    assert.ok(stalled.ms < 550, `idle close after ${stalled.ms} ms`);
  } finally {
    await protocol.drain();
  }
});

test('a silent client gets ERR line timeout when line-timeout is the shorter limit', async () => {
  const { protocol, port } = await start({ idleTimeout: 10, lineTimeout: 0.3 });
  try {
    const silent = await talk(port, []);
    assert.equal(silent.data.toString(), 'ERR line timeout\n');
    assert.ok(silent.ms >= 250 && silent.ms < 5000, `answered after ${silent.ms} ms`);
    const partial = await talk(port, ['abc']);
    assert.equal(partial.data.toString(), 'ERR line timeout\n');
    // The too-long answer still wins over the deadline for a big line.
    assert.equal(await reply(port, ['y'.repeat(70 * 1024) + '\n']), 'ERR line too long\n');
  } finally {
    await protocol.drain();
  }
});

/** A client that sends `first`, then waits for `finish()` to send the rest; resolves with all it received. */
function holder(port: number, first: Buffer): { received: Promise<Outcome>; connected: Promise<void>; finish(rest: string): void; gotData: () => boolean } {
  const began = Date.now();
  const chunks: Buffer[] = [];
  let error: string | null = null;
  const socket = net.connect(port, '127.0.0.1');
  const connected = new Promise<void>((resolve) => socket.once('connect', () => socket.write(first, () => resolve())));
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
  const received = new Promise<Outcome>((resolve) =>
    socket.on('close', () => resolve({ data: Buffer.concat(chunks), error, ms: Date.now() - began })),
  );
  return { received, connected, finish: (rest) => socket.write(rest), gotData: () => chunks.length > 0 };
}

/** Waits (polled, with a deadline) until `condition` holds; fails naming `what`. */
const until = (condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> => waitUntil(what, condition, timeoutMs);

test('many clients holding partial lines: over line-buffer-limit they get ERR server busy, the rest are served, the account returns to 0', async (t) => {
  const limit = 64 * 1024;
  const lineBytes = 1000;
  const { protocol, port } = await start({ lineBufferLimit: limit, lineTimeout: 60, idleTimeout: 60 });
  try {
    if (protocol.fastPath === 'native') return t.skip(JS_ACCOUNT_ONLY);
    const clients = Array.from({ length: 300 }, (_, i) => {
      const first = Buffer.from(`${String(i).padStart(4, '0')}:`.padEnd(lineBytes, 'x'));
      return { i, first, client: holder(port, first) };
    });
    await Promise.all(clients.map((c) => c.client.connected));
    // Every client is either held (its bytes on the account) or refused (it got a reply).
    await until(
      () => protocol.bufferedBytes() + clients.filter((c) => c.client.gotData()).length * lineBytes === clients.length * lineBytes,
      'every partial line to be held or refused',
    );
    const held = clients.filter((c) => !c.client.gotData());
    const refused = clients.filter((c) => c.client.gotData());
    assert.ok(held.length * lineBytes <= limit, `${held.length} lines held, over the limit`);
    assert.ok(held.length >= 50, `only ${held.length} lines held`);
    assert.equal(protocol.bufferedBytes(), held.length * lineBytes);
    for (const c of refused) assert.equal((await c.client.received).data.toString(), 'ERR server busy\n');
    // The held clients finish their lines and get correct answers.
    for (const c of held) c.client.finish(`${c.i}\n`);
    for (const c of held) {
      const outcome = await c.client.received;
      const line = c.first.toString() + String(c.i);
      assert.equal(outcome.data.toString(), [...line].reverse().join('') + '\n');
    }
    await until(() => protocol.bufferedBytes() === 0, 'the account to return to 0');
    // Resets, half-closes, timeouts and too-long lines give their bytes back too.
    await talk(port, ['x'.repeat(30_000), R, { reset: true }]);
    assert.equal(await reply(port, ['y'.repeat(30_000), R, { end: true }]), 'y'.repeat(30_000) + '\n');
    assert.equal(await reply(port, ['z'.repeat(60_000), R, 'z'.repeat(10_000), '\n']), 'ERR line too long\n');
    await until(() => protocol.bufferedBytes() === 0, 'the account to return to 0 after resets');
    // New partial lines fit again: as many as before.
    const again = Array.from({ length: held.length }, (_, i) => holder(port, Buffer.alloc(lineBytes, 0x61 + (i % 26))));
    await Promise.all(again.map((c) => c.connected));
    await until(() => protocol.bufferedBytes() === again.length * lineBytes, 'the new partial lines to be held');
    for (const c of again) c.finish('\n');
    for (const c of again) assert.equal((await c.received).data.length, lineBytes + 1);
    await until(() => protocol.bufferedBytes() === 0, 'the account to return to 0 at the end');
  } finally {
    await protocol.drain();
  }
});

test('a line timeout gives the line\'s bytes back', async () => {
  const { protocol, port } = await start({ lineTimeout: 0.2, idleTimeout: 10, lineBufferLimit: 6000 });
  try {
    // The client stays silent once its bytes are read: the server answers at line-timeout and closes.
    const outcome = await talk(port, ['x'.repeat(5000)]);
    assert.equal(outcome.data.toString(), 'ERR line timeout\n');
    // The JavaScript path's account is visible; on both paths, another line as big as the one
    // that timed out fits under the limit again (it would be ERR server busy if the bytes stayed).
    if (protocol.fastPath !== 'native') await until(() => protocol.bufferedBytes() === 0, 'the account to return to 0');
    // In two pieces (a partial line, on the account), within the 0.2 s line-timeout.
    assert.equal(await reply(port, ['y'.repeat(5000), { wait: 50 }, 'z\n']), 'z' + 'y'.repeat(5000) + '\n');
  } finally {
    await protocol.drain();
  }
});

// line-timeout and line-buffer-limit, written for the native path (which keeps its account in C):
// they hold on the JavaScript path as well, so both run them.

test('a line not complete within line-timeout is answered ERR line timeout', async () => {
  const { protocol, port } = await start({ lineTimeout: 0.3 });
  try {
    const slow = await talk(port, ['abc', R, 'd']);
    assert.equal(slow.data.toString(), 'ERR line timeout\n');
    assert.ok(slow.ms >= 250 && slow.ms < 3000, `answered after ${slow.ms} ms`);
  } finally {
    await protocol.drain();
  }
});

test('partial lines over line-buffer-limit are answered ERR server busy', async () => {
  const { protocol, port } = await start({ lineBufferLimit: 16, lineTimeout: 120 });
  try {
    assert.equal(await reply(port, ['0123456789', R, 'abcdefghij', R, 'x\n']), 'ERR server busy\n');
    // Within the limit, a line in pieces is still fine; a whole line never counts as partial.
    assert.equal(await reply(port, ['0123456789', R, 'ab\n']), 'ba9876543210\n');
    assert.equal(await reply(port, ['a'.repeat(100) + '\n']), 'a'.repeat(100) + '\n');
  } finally {
    await protocol.drain();
  }
});

test('the worker stats count every connection and answer, with latency, on either path', async () => {
  const stats = new WorkerStatsCollector([{ fd: -1, protocol: 'line', address: 'test' }]);
  const { protocol, port } = await start({ maxLine: 64 }, stats);
  try {
    const n = 20;
    for (let i = 0; i < n; i++) assert.equal(await reply(port, [`line ${i}\n`]), `${[...String(i)].reverse().join('')} enil\n`);
    // A line in two pieces 50 ms apart: a latency of at least 50 ms to count.
    assert.equal(await reply(port, ['ab', { wait: 50 }, 'c\n']), 'cba\n');
    assert.equal(await reply(port, ['y'.repeat(100) + '\n']), 'ERR line too long\n');
    // The native path counts on its own thread; the reply can reach us just before the count.
    let listener = stats.snapshot().listeners.test!;
    await until(() => (listener = stats.snapshot().listeners.test!).requests >= n + 2, 'the counts');
    assert.equal(listener.requests, n + 2);
    assert.equal(listener.connections, n + 2);
    assert.equal(listener.errors, 1);
    assert.equal(listener.latency.count, n + 2);
    assert.equal(listener.latency.buckets.reduce((a, b) => a + b, 0), n + 2);
    assert.ok(listener.latency.sum >= 0.04, `latency sum ${listener.latency.sum} s: the line in two pieces took 50 ms`);
    await until(() => stats.snapshot().inFlight === 0, 'nothing in flight');
  } finally {
    await protocol.drain();
  }
});

test('drain waits for in-flight connections, refuses new ones, then resolves', async () => {
  const { protocol, port } = await start({});
  const client = net.connect(port, '127.0.0.1');
  await new Promise((resolve) => client.once('connect', resolve));
  client.write('in fli');
  const received: Buffer[] = [];
  client.on('data', (chunk: Buffer) => received.push(chunk));
  const closed = new Promise((resolve) => client.once('close', resolve));

  let drained = false;
  const draining = protocol.drain().then(() => (drained = true));
  // The listener closes soon after the drain begins: wait until a new client is refused (one that
  // reached the queue just before is reset, never served). By then the drain must not have
  // resolved, with a connection still in flight.
  const deadline = Date.now() + 20_000;
  for (;;) {
    const late = await talk(port, ['late\n']);
    if (late.error === 'ECONNREFUSED') break;
    assert.equal(late.data.length, 0, 'a new client was served during the drain');
    assert.ok(Date.now() < deadline, `new clients still reach the draining listener: ${late.error}`);
  }
  assert.equal(drained, false, 'drain resolved with a connection in flight');

  client.write('ght\n');
  await closed;
  assert.equal(Buffer.concat(received).toString(), 'thgilf ni\n');
  await draining;
  assert.equal(drained, true);
});

test('drain resolves for servers that never listened, and with no server at all', async () => {
  const protocol = await createLineProtocol({ settings: settings(), log, slot: 0 });
  await protocol.drain();
  protocol.createServer();
  protocol.createServer();
  await protocol.drain();
});
