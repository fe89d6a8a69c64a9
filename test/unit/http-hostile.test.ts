// Tests of RAAS's answers to hostile or broken HTTP clients that node:http alone lets through
// (src/protocols/http/guard.ts, server.ts): stalled bodies, whole-request deadlines. Raw sockets
// over 127.0.0.1.
// Runs in: the test runner, which plays both the worker (the protocol's servers) and the clients.

import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import { pathToFileURL } from 'node:url';
import { SettingError } from '../../src/config/errors.js';
import { parseArgv, settingsFrom } from '../../src/config/load.js';
import { fixture, raw, READ, start, type Running } from '../fixtures/http-helpers.js';

/** The guard fixture app and the list of requests it saw (reset for each test). */
async function guardApp(): Promise<{ file: string; seen: string[] }> {
  const file = fixture('http-guard-app.mjs');
  const mod = (await import(pathToFileURL(file).href)) as { seen: string[] };
  mod.seen.length = 0;
  return { file, seen: mod.seen };
}

const running: Running[] = [];
after(async () => {
  await Promise.all(running.map((r) => r.protocol.drain()));
});
async function server(overrides: Parameters<typeof start>[0]): Promise<Running> {
  const r = await start(overrides);
  running.push(r);
  return r;
}

test('a body that stalls after its head gets 408 after body-timeout, and the connection closes', async () => {
  const srv = await server({ bodyTimeout: 0.3 });
  const out = await raw(srv.port, ['POST /reverse HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc'], 10_000);
  assert.match(out.text, /^HTTP\/1\.1 408 /);
  assert.ok(out.closed);
  assert.ok(out.ms >= 250 && out.ms < 8000, `408 after ${out.ms} ms`);
  assert.ok(srv.logs().some((l) => l.event === 'client-error' && l.code === 'RAAS_BODY_TIMEOUT' && l.status === '408'));
  // Chunked: stalls between chunks count the same.
  const chunked = await raw(srv.port, ['POST /reverse HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n'], 10_000);
  assert.match(chunked.text, /^HTTP\/1\.1 408 /);
  assert.ok(chunked.closed);
});

test('a slow body that never pauses for body-timeout is served', async () => {
  const srv = await server({ bodyTimeout: 0.5 });
  const steps: (string | number)[] = ['POST /reverse HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\nConnection: close\r\n\r\n'];
  for (const c of 'abcdefgh') steps.push(100, c);
  const out = await raw(srv.port, steps, 10_000);
  assert.match(out.text, /^HTTP\/1\.1 200 [^]*\r\n\r\nhgfedcba$/);
});

test('request-timeout bounds a body that trickles just fast enough for body-timeout', async () => {
  const srv = await server({ headersTimeout: 0.5, requestTimeout: 1, bodyTimeout: 5 });
  // 3 s of trickle (the helper plays every step even after the server closed).
  const steps: (string | number)[] = ['POST /reverse HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n\r\n'];
  for (let i = 0; i < 30; i++) steps.push(100, 'x');
  const out = await raw(srv.port, steps, 15_000);
  assert.match(out.text, /^HTTP\/1\.1 408 /);
  assert.ok(out.closed);
  assert.ok(out.ms >= 900 && out.ms < 9000, `408 after ${out.ms} ms`);
});

test('request-timeout below headers-timeout is refused, naming both settings', () => {
  assert.throws(
    () => settingsFrom({ cwd: '/', flags: parseArgv(['--request-timeout', '5', '--headers-timeout', '10']).values }),
    (err: unknown) => {
      assert.ok(err instanceof SettingError);
      assert.equal(err.setting, 'request-timeout');
      assert.match(err.message, /"request-timeout"/);
      assert.match(err.message, /"headers-timeout"/);
      return true;
    },
  );
  const ok = settingsFrom({ cwd: '/', flags: parseArgv(['--request-timeout', '10', '--headers-timeout', '10']).values });
  assert.equal(ok.settings.requestTimeout, 10);
});

test('max-header-size bounds the whole head: many small headers over it get 431 and a close', async () => {
  const srv = await server({ maxHeaderSize: 16 * 1024 });
  // 3000 lines "aN: b" = 21 000 bytes of head; node alone counts only names and values (9000).
  const many = Array.from({ length: 3000 }, (_, i) => `a${i % 10}: b\r\n`).join('');
  const out = await raw(srv.port, [`GET /healthz HTTP/1.1\r\nHost: x\r\n${many}\r\n`]);
  assert.match(out.text, /^HTTP\/1\.1 431 /);
  assert.ok(out.closed);
  assert.ok(srv.logs().some((l) => l.event === 'client-error' && l.status === '431'));
  // Just under the limit, with many headers, is still served.
  const fits = Array.from({ length: 2000 }, (_, i) => `a${i % 10}: b\r\n`).join('');
  const ok = await raw(srv.port, [`GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${fits}\r\n`]);
  assert.match(ok.text, /^HTTP\/1\.1 200 /);
  // One big header over the limit: node's own check, same answer.
  const big = await raw(srv.port, [`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`]);
  assert.match(big.text, /^HTTP\/1\.1 431 /);
});

test('a refused head never reaches the app', async () => {
  const app = await guardApp();
  const srv = await server({ app: app.file, maxHeaderSize: 4096 });
  const many = Array.from({ length: 1000 }, () => `a: b\r\n`).join('');
  const out = await raw(srv.port, [`GET /refused HTTP/1.1\r\nHost: x\r\n${many}\r\n`]);
  assert.match(out.text, /^HTTP\/1\.1 431 /);
  const ok = await raw(srv.port, [`GET /served HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`]);
  assert.match(ok.text, /^HTTP\/1\.1 200 [^]*\r\n\r\napp$/);
  assert.deepEqual(app.seen, ['GET /served']);
});

test('Host: a duplicate gets 400, a missing one on HTTP/1.1 gets 400, HTTP/1.0 may omit it', async () => {
  const app = await guardApp();
  for (const srv of [await server({}), await server({ app: app.file })]) {
    const dup = await raw(srv.port, ['GET /healthz HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n']);
    assert.match(dup.text, /^HTTP\/1\.1 400 /);
    assert.ok(dup.closed);
    const missing = await raw(srv.port, ['GET /healthz HTTP/1.1\r\n\r\n']);
    assert.match(missing.text, /^HTTP\/1\.1 400 /);
    assert.ok(missing.closed);
    const old = await raw(srv.port, ['GET /healthz HTTP/1.0\r\n\r\n']);
    assert.match(old.text, /^HTTP\/1\.1 200 /);
  }
  assert.deepEqual(app.seen, ['GET /healthz']);
});

test('an HTTP version other than 1.0 and 1.1 gets 505', async () => {
  const app = await guardApp();
  for (const srv of [await server({}), await server({ app: app.file })]) {
    for (const version of ['HTTP/2.0', 'HTTP/1.2', 'HTTP/0.9', 'HTTP/3.1']) {
      const out = await raw(srv.port, [`GET /healthz ${version}\r\nHost: x\r\n\r\n`]);
      assert.match(out.text, /^HTTP\/1\.1 505 /, version);
      assert.ok(out.closed, version);
    }
  }
  // Not a version at all: malformed, 400 (and nothing pipelined after it is served).
  for (const line of ['GET /healthz HTTP/9.9.9', 'GET /healthz HTTP/1.x', 'GET /healthz HTTP/12.1']) {
    const out = await raw((await server({})).port, [`${line}\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`]);
    assert.match(out.text, /^HTTP\/1\.1 400 /, line);
    assert.equal((out.text.match(/HTTP\/1\.1 /g) ?? []).length, 1, out.text);
  }
  // A supported request, then (once answered) an unsupported one on the same connection: 200, then 505.
  const srv = await server({});
  const both = await new Promise<string>((resolve) => {
    const socket = net.connect(srv.port, '127.0.0.1');
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      // The first answer is complete: now the second request, on the same connection.
      if (text.endsWith('\r\n\r\nok\n')) socket.write('GET /healthz HTTP/1.2\r\nHost: x\r\n\r\n');
    });
    socket.on('close', () => resolve(text));
    socket.on('error', () => {});
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  });
  assert.match(both, /^HTTP\/1\.1 200 [^]*HTTP\/1\.1 505 /);
  assert.deepEqual(app.seen, []);
});

test('CONNECT: the built-in endpoints answer 405 with Allow', async () => {
  const srv = await server({});
  const out = await raw(srv.port, ['CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n']);
  assert.match(out.text, /^HTTP\/1\.1 405 /);
  assert.match(out.text, /\r\nAllow: GET, HEAD, POST\r\n/);
  assert.ok(out.closed);
  // The next client is served as usual.
  const next = await raw(srv.port, ['GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
  assert.match(next.text, /^HTTP\/1\.1 200 /);
});

test('CONNECT: an app without a connect export answers 405; one with it gets the tunnel', async () => {
  const plain = await server({ app: fixture('http-plain-app.mjs') });
  const refused = await raw(plain.port, ['CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n']);
  assert.match(refused.text, /^HTTP\/1\.1 405 /);
  assert.match(refused.text, /\r\nAllow: \r\n/);
  assert.ok(refused.closed);

  const app = await guardApp();
  const tunnel = await server({ app: app.file });
  // The tunnel stays open: done once both pieces came back.
  const out = await raw(tunnel.port, ['CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\nping', READ, 'pong'], 10_000, (text) => text.endsWith('pingpong'));
  assert.match(out.text, /^HTTP\/1\.1 200 Connection Established\r\n\r\npingpong$/);
  assert.deepEqual(app.seen, ['CONNECT example.com:443']);
  // The guards still apply to CONNECT: a duplicate Host never reaches the app.
  const dup = await raw(tunnel.port, ['CONNECT example.com:443 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n']);
  assert.match(dup.text, /^HTTP\/1\.1 400 /);
  assert.deepEqual(app.seen, ['CONNECT example.com:443']);
});
