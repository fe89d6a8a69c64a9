// Tests of what an app module may export, each with the real package: a Fastify instance and a
// Koa app as they are, and an async factory (whose workerStart gets { slot, generation }).
// Runs in: the test runner, which plays both the worker (the protocol's servers) and the clients.

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { fixture, request, start } from '../fixtures/http-helpers.js';

test('a Fastify instance is served as it is (routes of plugins included)', async () => {
  const srv = await start({ app: fixture('kind-fastify.mjs') });
  const hello = await request(srv.port, { path: '/hello' });
  assert.equal(hello.status, 200);
  assert.deepEqual(JSON.parse(hello.text), { hello: 'fastify' });
  const echo = await request(srv.port, {
    method: 'POST',
    path: '/echo',
    body: JSON.stringify({ a: 1 }),
    headers: { 'Content-Type': 'application/json' },
  });
  assert.deepEqual(JSON.parse(echo.text), { got: { a: 1 } });
  assert.equal((await request(srv.port, { path: '/nope' })).status, 404);
  await srv.protocol.drain();
});

test('a Koa app is served as it is', async () => {
  const srv = await start({ app: fixture('kind-koa.mjs') });
  assert.equal((await request(srv.port, { path: '/x' })).text, 'hello from koa /x');
  await srv.protocol.drain();
});

test('an async factory is awaited once; workerStart gets the slot and generation', async () => {
  const srv = await start({ app: fixture('kind-factory.mjs') });
  const reply = await request(srv.port, { path: '/' });
  assert.equal(reply.text, 'built by a factory, started {"slot":0,"generation":0}');
  await srv.protocol.drain();
});
