// Unit: the line protocol's one contract between its C path (native/line-fast.c) and its
// JavaScript path (line.ts). First, native/line-contract.h (what C knows of the contract) is what
// scripts/line-contract.mjs generates from src/protocols/line-contract.ts and src/ipc.ts now.
// Then the same cases, as data, run through both paths of one protocol (the native path on a
// bare listening fd, the JavaScript path on a net.Server, the same settings), and the replies
// must agree byte for byte, and with the expected reply: the ERR replies and the limits
// (max-line, its "\r\n", line-timeout, idle-timeout, line-buffer-limit) included. Without the
// addon (not built) only the JavaScript path runs against the expectations.
// Runs in: the test runner, which plays the worker (both paths) and the clients, on 127.0.0.1.

import { test, describe, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { setTimeout as pause } from 'node:timers/promises';
import { SETTINGS, type Settings } from '../../src/config/settings.js';
import { LATENCY_BUCKETS_S } from '../../src/ipc.js';
import { Logger } from '../../src/log.js';
import * as contract from '../../src/protocols/line-contract.js';
import { createLineProtocol, type LineProtocol } from '../../src/protocols/line.js';
import { listenLoopbackFd, loadLineFast } from '../../src/protocols/line-native.js';
import { REPO_ROOT } from '../helpers/raas.js';
import { readsOf, serverHasRead, type ReadProbe } from '../helpers/sockets.js';

const { REPLIES } = contract;

test('native/line-contract.h is up to date with src/protocols/line-contract.ts and LATENCY_BUCKETS_S', async () => {
  const script = (await import(pathToFileURL(path.join(REPO_ROOT, 'scripts', 'line-contract.mjs')).href)) as {
    HEADER_PATH: string;
    renderHeader(c: typeof contract, bucketsS: readonly number[]): string;
  };
  const expected = script.renderHeader(contract, LATENCY_BUCKETS_S);
  assert.equal(fs.readFileSync(script.HEADER_PATH, 'utf8'), expected, 'run: npm run build && node scripts/line-contract.mjs');
  // What the header says, read back: the contract's values, not only its text.
  assert.match(expected, new RegExp(`#define LINGER_MS ${contract.LINGER_MS}\\n`));
  for (const [name, text] of Object.entries(REPLIES)) assert.ok(expected.includes(`#define ${name} ${JSON.stringify(text)}\n`), name);
  assert.ok(expected.includes(`{${LATENCY_BUCKETS_S.map((s) => Math.round(s * 1e6)).join(', ')}}`));
});

/**
 * What the client does: write, half-close, wait until the server has read all it was sent (`P`:
 * the next write is a read of its own), or pause (`pause`: only where time itself is tested, a
 * client slow or trickling against idle-timeout and line-timeout).
 */
type Step = string | Buffer | { end: true } | { read: true } | { pause: number };

interface Case {
  name: string;
  steps: Step[];
  /** The whole reply, as the client reads it until the server closes. */
  reply: string | Buffer;
}

interface Outcome {
  /** Every byte the client read, in hex (a mismatch shows where). */
  data: string;
  /** The client socket's error (ECONNRESET: the reply could have been lost to a reset), or null. */
  error: string | null;
}

/** Connects, plays the steps (stopping once the server has closed its side), collects the reply until close. */
/** The JavaScript servers' own count of what they read, by port (the native path's: the kernel's queues). */
const readProbes = new Map<number, ReadProbe>();

function talk(port: number, steps: Step[]): Promise<Outcome> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: string | null = null;
    let ended = false;
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => (ended = true));
    socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
    socket.on('close', () => resolve({ data: Buffer.concat(chunks).toString('hex'), error }));
    socket.once('connect', async () => {
      for (const step of steps) {
        if (socket.destroyed || ended) return;
        if (typeof step === 'string' || Buffer.isBuffer(step)) socket.write(step);
        else if ('end' in step) socket.end();
        else if ('read' in step) await serverHasRead(socket, readProbes.get(port));
        // time is tested: a client slow or trickling against idle-timeout and line-timeout (the
        // only cases with a `pause`); a line in pieces waits for the server's read instead (P).
        else await pause(step.pause);
      }
    });
  });
}

/** The server has read everything so far: the next write reaches it as a read of its own. */
const P = { read: true } as const;
const M = 32; // max-line of the limits group

const x = (n: number): string => 'x'.repeat(n);
const bytes = (...b: number[]): Buffer => Buffer.from(b);
const rev = (s: string): string => [...s].reverse().join('') + '\n';

/** Groups of cases, each group one protocol (one set of settings) serving both paths. */
const GROUPS: Array<{ name: string; settings: Partial<Settings>; cases: Case[] }> = [
  {
    name: 'lines, graphemes and max-line',
    // Not about line-timeout (long here): a piece waits until the server has read the one before,
    // which on the native path is the kernel's tables, slow on a busy machine.
    settings: { maxLine: M, lineTimeout: 120 },
    cases: [
      { name: 'a line', steps: ['hello\n'], reply: 'olleh\n' },
      { name: 'CRLF', steps: ['hello\r\n'], reply: 'olleh\n' },
      { name: 'an empty line', steps: ['\n'], reply: '\n' },
      { name: 'an empty CRLF line', steps: ['\r\n'], reply: '\n' },
      { name: 'FIN before any byte', steps: [{ end: true }], reply: '\n' },
      { name: 'a last line ended by FIN', steps: ['abc', { end: true }], reply: 'cba\n' },
      { name: 'a last line in pieces ended by FIN', steps: ['ab', P, 'c', { end: true }], reply: 'cba\n' },
      { name: 'a trailing "\\r" before FIN stays', steps: ['a\r', { end: true }], reply: '\ra\n' },
      { name: 'a lone "\\r" inside the line', steps: ['a\rb\n'], reply: 'b\ra\n' },
      { name: 'only the first line', steps: ['one\ntwo\n'], reply: 'eno\n' },
      { name: '"\\r" and "\\n" in different segments', steps: ['ab', P, 'c\r', P, '\n'], reply: 'cba\n' },
      { name: 'graphemes the C subset reverses', steps: ['e\u0301a👍🏽🇫🇷\n'], reply: '🇫🇷👍🏽ae\u0301\n' },
      { name: 'graphemes beyond the C subset (JavaScript reverses)', steps: ['日本語\n'], reply: '語本日\n' },
      { name: 'a ZWJ family in pieces', steps: ['a👨‍', P, '👩‍👧\n'], reply: '👨‍👩‍👧a\n' },
      { name: 'a leading BOM is text', steps: ['\ufeffab\n'], reply: 'ba\ufeff\n' },
      { name: 'invalid UTF-8: 0xff', steps: [bytes(0xff, 0x0a)], reply: REPLIES.ERR_INVALID_UTF8 },
      { name: 'invalid UTF-8: overlong', steps: [bytes(0x61, 0xc0, 0x80, 0x0a)], reply: REPLIES.ERR_INVALID_UTF8 },
      { name: 'invalid UTF-8: a surrogate', steps: [bytes(0xed, 0xa0, 0x80, 0x0a)], reply: REPLIES.ERR_INVALID_UTF8 },
      { name: 'invalid UTF-8: over U+10FFFF', steps: [bytes(0xf4, 0x90, 0x80, 0x80, 0x0a)], reply: REPLIES.ERR_INVALID_UTF8 },
      { name: 'invalid UTF-8: truncated at FIN', steps: [bytes(0x61, 0xe2, 0x82), { end: true }], reply: REPLIES.ERR_INVALID_UTF8 },
      { name: 'exactly max-line', steps: [x(M) + '\n'], reply: x(M) + '\n' },
      { name: 'max-line + 1', steps: [x(M + 1) + '\n'], reply: REPLIES.ERR_TOO_LONG },
      { name: 'max-line with CRLF', steps: [x(M) + '\r\n'], reply: x(M) + '\n' },
      { name: 'max-line, "\\r", then "\\n" in another segment', steps: [x(M) + '\r', P, '\n'], reply: x(M) + '\n' },
      { name: 'max-line, then CRLF in another segment', steps: [x(M), P, '\r\n'], reply: x(M) + '\n' },
      { name: 'max-line, "\\r", then more than "\\n"', steps: [x(M) + '\r', P, 'y\n'], reply: REPLIES.ERR_TOO_LONG },
      { name: 'max-line ended by FIN', steps: [x(M), { end: true }], reply: x(M) + '\n' },
      { name: 'max-line and a "\\r" ended by FIN', steps: [x(M) + '\r', { end: true }], reply: REPLIES.ERR_TOO_LONG },
      { name: 'max-line + 1 without newline', steps: [x(M + 1)], reply: REPLIES.ERR_TOO_LONG },
      { name: 'max-line counts bytes: one over', steps: [x(M - 1) + 'é\n'], reply: REPLIES.ERR_TOO_LONG },
      { name: 'max-line counts bytes: exactly', steps: [x(M - 2) + 'é\n'], reply: rev(x(M - 2) + 'é') },
      { name: 'too long in pieces', steps: Array.from({ length: 10 }, () => [x(5), P]).flat(), reply: REPLIES.ERR_TOO_LONG },
      // The client is still sending when the refusal comes: it must still read the reply, not a reset.
      { name: 'too long while the client sends 1 MiB', steps: [Buffer.alloc(1 << 20, 0x7a), '\n', { end: true }], reply: REPLIES.ERR_TOO_LONG },
    ],
  },
  {
    name: 'idle-timeout (shorter than line-timeout)',
    settings: { idleTimeout: 0.25, lineTimeout: 30 },
    cases: [
      { name: 'a silent client is closed without a reply', steps: [], reply: '' },
      { name: 'a partial line then silence is closed without a reply', steps: ['abc'], reply: '' },
      { name: 'activity resets the idle clock', steps: ['a', { pause: 150 }, 'b', { pause: 150 }, 'c\n'], reply: 'cba\n' },
    ],
  },
  {
    name: 'line-timeout (shorter than idle-timeout)',
    settings: { idleTimeout: 30, lineTimeout: 0.3 },
    cases: [
      { name: 'a silent client', steps: [], reply: REPLIES.ERR_LINE_TIMEOUT },
      { name: 'a partial line', steps: ['abc'], reply: REPLIES.ERR_LINE_TIMEOUT },
      // One byte every 20 ms: never idle, never a whole line; the client is still sending when refused.
      { name: 'a trickling client', steps: Array.from({ length: 200 }, () => ['x', { pause: 20 }]).flat(), reply: REPLIES.ERR_LINE_TIMEOUT },
      { name: 'a line in time', steps: ['ab', { pause: 50 }, 'c\n'], reply: 'cba\n' },
    ],
  },
  {
    name: 'line-buffer-limit',
    settings: { lineBufferLimit: 16, maxLine: 4 << 20, lineTimeout: 120 },
    cases: [
      { name: 'partial lines over the limit', steps: ['0123456789', P, 'abcdefghij', P, 'x\n'], reply: REPLIES.ERR_SERVER_BUSY },
      { name: 'a partial line within the limit', steps: ['0123456789', P, 'ab\n'], reply: 'ba9876543210\n' },
      { name: 'a whole line never counts as partial', steps: [x(100) + '\n'], reply: x(100) + '\n' },
      // The limit is on unfinished lines: the bytes that finish one are not refused (C refused them).
      { name: 'the bytes that finish a partial line may pass the limit', steps: ['0123456789', P, 'abcdefgh\n'], reply: rev('0123456789abcdefgh') },
      // Refused while it is still sending (no "\n" yet): it must still read the reply, not a reset.
      { name: 'over the limit while the client sends 48 KiB', steps: ['0123456789', P, Buffer.alloc(48 << 10, 0x79), P, 'z\n'], reply: REPLIES.ERR_SERVER_BUSY },
      { name: 'over the limit while the client sends 2 MiB', steps: ['0123456789', P, Buffer.alloc(2 << 20, 0x79), P, 'z\n'], reply: REPLIES.ERR_SERVER_BUSY },
    ],
  },
];

/** Every setting at its default, then the group's. */
function settings(overrides: Partial<Settings>): Settings {
  const defaults = Object.fromEntries(SETTINGS.map((s) => [s.key, typeof s.default === 'function' ? s.default() : s.default]));
  return { ...(defaults as unknown as Settings), listen: ['127.0.0.1:0'], workers: 1, workerWatchdog: 'off', ...overrides };
}

const log = new Logger({ role: 'test', pid: process.pid });
const hasNative = process.env.RAAS_NATIVE !== '0' && loadLineFast() !== null;

for (const group of GROUPS) {
  describe(`both paths agree: ${group.name}`, () => {
    let protocol: LineProtocol;
    const ports: { native: number | null; js: number } = { native: null, js: 0 };

    before(async () => {
      protocol = createLineProtocol({ settings: settings(group.settings), log, slot: 0 });
      // The same protocol serves both: a bare fd goes to C (serveFd), a net.Server is JavaScript's.
      const bare = hasNative ? listenLoopbackFd() : null;
      if (bare && protocol.serveFd?.(bare.fd, 511, { listener: 0 })) ports.native = bare.port;
      const server = protocol.createServer({ listener: 1 });
      const probe = readsOf(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      ports.js = (server.address() as AddressInfo).port;
      readProbes.set(ports.js, probe);
    });

    after(async () => {
      await protocol.drain();
    });

    for (const c of group.cases) {
      test(c.name, async () => {
        const expected: Outcome = { data: Buffer.from(c.reply).toString('hex'), error: null };
        const [js, native] = await Promise.all([talk(ports.js, c.steps), ports.native === null ? null : talk(ports.native, c.steps)]);
        if (native !== null) assert.deepEqual(native, js, 'the native and the JavaScript path answer differently');
        assert.deepEqual(js, expected);
      });
    }

    test('the native path served this group', (t) => {
      if (!hasNative) return t.skip('the line_fast addon is not built (or RAAS_NATIVE=0): only the JavaScript path ran');
      assert.notEqual(ports.native, null);
    });
  });
}
