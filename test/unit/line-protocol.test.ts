// Tests of the line protocol (src/protocols/line.ts) over real TCP sockets on 127.0.0.1, on the
// native path (native/line-fast.c) when the addon is built; line-protocol-js.test.ts runs this
// same file with RAAS_NATIVE=0 (the JavaScript path).
// Runs in: the test runner, which plays both the worker (the protocol's server) and the clients.

import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Settings } from '../../src/config/settings.js';
import { Logger } from '../../src/log.js';
import { createLineProtocol } from '../../src/protocols/line.js';
import { listenLoopbackFd, loadLineFast } from '../../src/protocols/line-native.js';
import type { Protocol } from '../../src/protocols/types.js';

function settings(overrides: Partial<Settings> = {}): Settings {
  return {
    listen: ['127.0.0.1:0'],
    workers: 1,
    backlog: 1024,
    timeout: 30,
    shutdownTimeout: 30,
    bootTimeout: 30,
    maxLine: 64 * 1024,
    idleTimeout: 10,
    name: 'RAAS',
    logFile: null,
    config: null,
    pid: null,
    upgradeHandover: 'manual',
    app: null,
    maxBody: 1024 * 1024,
    maxHeaderSize: 16 * 1024,
    headersTimeout: 10,
    keepAliveTimeout: 5,
    accessLog: null,
    accessLogFormat: 'combined',
    ...overrides,
  };
}

const log = new Logger({ role: 'test', pid: process.pid });

async function start(overrides: Partial<Settings>): Promise<{ protocol: Protocol; port: number }> {
  const protocol = await createLineProtocol({ settings: settings(overrides), log, slot: 0 });
  // The native path serves a bare listening fd, as a worker's inherited one.
  const bare = protocol.fastPath === 'native' ? listenLoopbackFd() : null;
  if (bare && protocol.serveFd?.(bare.fd, 511, `127.0.0.1:${bare.port}`)) return { protocol, port: bare.port };
  const server = protocol.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { protocol, port: (server.address() as AddressInfo).port };
}

type Step = string | Buffer | { end: true } | { wait: number } | { reset: true };

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

/** One byte per write, with a pause so that each arrives in a segment of its own. */
function oneByOne(text: string): Step[] {
  const steps: Step[] = [];
  for (const byte of Buffer.from(text, 'utf8')) steps.push(Buffer.from([byte]), { wait: 2 });
  return steps;
}

let main: { protocol: Protocol; port: number };

before(async () => {
  main = await start({ maxLine: 1024 });
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
  assert.equal(await reply(main.port, ['ab', { wait: 20 }, 'c', { end: true }]), 'cba\n');
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
  for (let i = 0; i < 12; i++) pieces.push('y'.repeat(100), { wait: 5 });
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
  await talk(main.port, [noNewline.subarray(0, 1000), { wait: 10 }, { reset: true }]);
  await talk(main.port, ['abc', { wait: 10 }, { reset: true }]);
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

// line-timeout and line-buffer-limit (settings being added with the TypeScript path's support):
// the native path reads them as settings.lineTimeout / settings.lineBufferLimit already.

test('a line not complete within line-timeout is answered ERR line timeout (native path)', async (t) => {
  const { protocol, port } = await start({ lineTimeout: 0.3 } as Partial<Settings>);
  try {
    if (protocol.fastPath !== 'native') return t.skip('the TypeScript path gets line-timeout with its setting');
    const slow = await talk(port, ['abc', { wait: 100 }, 'd']);
    assert.equal(slow.data.toString(), 'ERR line timeout\n');
    assert.ok(slow.ms >= 250 && slow.ms < 3000, `answered after ${slow.ms} ms`);
  } finally {
    await protocol.drain();
  }
});

test('partial lines over line-buffer-limit are answered ERR server busy (native path)', async (t) => {
  const { protocol, port } = await start({ lineBufferLimit: 16 } as Partial<Settings>);
  try {
    if (protocol.fastPath !== 'native') return t.skip('the TypeScript path gets line-buffer-limit with its setting');
    assert.equal(await reply(port, ['0123456789', { wait: 50 }, 'abcdefghij', { wait: 50 }, 'x\n']), 'ERR server busy\n');
    // Within the limit, a line in pieces is still fine; a whole line never counts as partial.
    assert.equal(await reply(port, ['0123456789', { wait: 50 }, 'ab\n']), 'ba9876543210\n');
    assert.equal(await reply(port, ['a'.repeat(100) + '\n']), 'a'.repeat(100) + '\n');
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
  await sleep(100);
  assert.equal(drained, false, 'drain resolved with a connection in flight');
  const refused = await talk(port, ['late\n']);
  assert.equal(refused.error, 'ECONNREFUSED');

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
