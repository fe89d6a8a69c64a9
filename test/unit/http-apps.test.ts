// Tests of user apps behind the HTTP protocol: an Express app (request listener), a Hono app and
// a bare object with fetch() (through the fetch adapter), lifecycle hooks, and handlers that
// throw or reject (500, logged, and the worker keeps serving).
// Runs in: the test runner, which plays both the worker (the protocol's servers) and the clients.

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import { createHttpProtocol } from '../../src/protocols/http/index.js';
import { Logger } from '../../src/log.js';
import { fixture, request, settings, start } from '../fixtures/http-helpers.js';
import { serverHasRead } from '../helpers/sockets.js';

declare global {
  // eslint-disable-next-line no-var
  var raasHooks: string[] | undefined;
}

test('an Express app serves, with its hooks called at start and stop', async () => {
  globalThis.raasHooks = [];
  const srv = await start({ app: fixture('http-express-app.mjs') });
  assert.deepEqual(globalThis.raasHooks, ['express:start']);

  const hello = await request(srv.port, { path: '/hello' });
  assert.equal(hello.status, 200);
  assert.equal(hello.text, 'hello from express');
  const echo = await request(srv.port, { method: 'POST', path: '/echo', body: 'shout', headers: { 'Content-Type': 'text/plain' } });
  assert.equal(echo.text, 'SHOUT');
  const cookies = await request(srv.port, { path: '/cookies' });
  assert.deepEqual(cookies.headers['set-cookie'], ['a=1; Path=/', 'b=2; Path=/']);
  const head = await request(srv.port, { method: 'HEAD', path: '/hello' });
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  assert.equal((await request(srv.port, { path: '/reverse?s=ab' })).status, 404); // no built-ins

  await srv.protocol.drain();
  assert.deepEqual(globalThis.raasHooks, ['express:start']);
  await srv.protocol.stop?.();
  assert.deepEqual(globalThis.raasHooks, ['express:start', 'express:stop']);
});

test('a Hono app serves through the fetch adapter', async () => {
  globalThis.raasHooks = [];
  const srv = await start({ app: fixture('http-hono-app.mjs') });
  assert.deepEqual(globalThis.raasHooks, ['hono:start']);

  assert.equal((await request(srv.port, { path: '/hello' })).text, 'hello from hono');
  const url = await request(srv.port, { path: '/url?q=1', headers: { 'X-Test': 'yes', Host: 'example.test:8080' } });
  assert.equal(url.text, 'GET http://example.test:8080/url?q=1 yes');

  // A streamed (chunked) request body reaches the app through Readable.toWeb().
  const echo = await new Promise<string>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: srv.port, method: 'POST', path: '/echo', agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    // Two chunks, the second sent once the server has read the first.
    req.write('chunk-one ', () => void serverHasRead(req.socket!).then(() => req.end('chunk-two'), reject));
  });
  assert.equal(echo, 'CHUNK-ONE CHUNK-TWO');

  const cookies = await request(srv.port, { path: '/cookies' });
  assert.deepEqual(cookies.headers['set-cookie'], ['a=1; Path=/', 'b=2; Path=/']);
  const stream = await request(srv.port, { path: '/stream' });
  assert.equal(stream.text, 'part0;part1;part2;');
  assert.equal(stream.headers['transfer-encoding'], 'chunked');
  const head = await request(srv.port, { method: 'HEAD', path: '/hello' });
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  assert.equal((await request(srv.port, { path: '/missing' })).status, 404);

  await srv.protocol.drain();
  await srv.protocol.stop?.();
  assert.deepEqual(globalThis.raasHooks, ['hono:start', 'hono:stop']);
});

test('a bare fetch app: status text, headers, body; a rejection or a non-Response is a 500', async () => {
  const srv = await start({ app: fixture('http-fetch-app.mjs') });
  const ok = await request(srv.port, { path: '/' });
  assert.equal(ok.text, 'fetch ok');
  assert.equal(ok.headers['x-kind'], 'fetch');
  const echo = await request(srv.port, { method: 'POST', path: '/echo', body: 'abc' });
  assert.equal(echo.status, 201);
  assert.equal(echo.text, 'cba');
  assert.equal((await request(srv.port, { path: '/reject' })).status, 500);
  assert.equal((await request(srv.port, { path: '/not-a-response' })).status, 500);
  const errors = srv.logs().filter((l) => l.event === 'handler-error');
  assert.equal(errors.length, 2);
  assert.match(errors[0]?.error ?? '', /fetch boom/);
  assert.equal((await request(srv.port, { path: '/' })).status, 200);

  // A body the app never reads is discarded, so the keep-alive connection stays usable.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const sockets = new Set<unknown>();
  agent.on('free', (socket) => sockets.add(socket));
  for (let i = 0; i < 2; i++) {
    const r = await request(srv.port, { method: 'POST', path: '/', body: 'x'.repeat(200_000), agent });
    assert.equal(r.text, 'fetch ok');
  }
  assert.equal(sockets.size, 1);
  agent.destroy();
  await srv.protocol.drain();
});

test('a throwing or rejecting handler gets 500, is logged, and the worker keeps serving', async () => {
  const srv = await start({ app: fixture('http-plain-app.mjs') });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

  const sync = await request(srv.port, { path: '/sync-throw', agent });
  assert.equal(sync.status, 500);
  assert.equal(sync.headers['x-secret'], undefined);
  assert.equal((await request(srv.port, { path: '/', agent })).text, 'fine'); // same connection
  assert.equal((await request(srv.port, { path: '/async-reject', agent })).status, 500);
  assert.equal((await request(srv.port, { path: '/', agent })).text, 'fine');
  agent.destroy();

  // Headers already sent: the connection is cut, the client sees an incomplete response.
  await assert.rejects(request(srv.port, { path: '/throw-after-head' }));
  assert.equal((await request(srv.port, { path: '/' })).text, 'fine');

  const errors = srv.logs().filter((l) => l.event === 'handler-error');
  assert.deepEqual(
    errors.map((l) => l.url),
    ['/sync-throw', '/async-reject', '/throw-after-head'],
  );
  assert.match(errors[0]?.error ?? '', /^Error: sync boom\n\s+at .*http-plain-app\.mjs/);
  assert.equal(errors[0]?.level, 'error');
  await srv.protocol.drain();
});

test('an app module without a usable default export fails to load', async () => {
  const log = new Logger({ role: 'test' });
  await assert.rejects(
    Promise.resolve(createHttpProtocol({ settings: settings({ app: fixture('http-bad-app.mjs') }), log, slot: 0 })),
    /default export must be a \(req, res\) request listener, an object with a fetch\(request\) method, a Fastify instance, a Koa app or an async factory returning one, or nothing at all .*; got number/,
  );
});
