// Tests of the HTTP protocol's built-in endpoints (/reverse, /healthz) and of the HTTP/1.1
// behaviour RAAS relies on node:http for: keep-alive, pipelining, 100-continue, chunked bodies,
// 431/400/408 answers to bad clients. Real clients over 127.0.0.1.
// Runs in: the test runner, which plays both the worker (the protocol's servers) and the clients.

import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import { raw, request, start, type Running } from '../fixtures/http-helpers.js';
import { serverHasRead } from '../helpers/sockets.js';

let srv: Running;

before(async () => {
  srv = await start({ maxBody: 64 });
});
after(async () => {
  await srv.protocol.drain();
});

test('GET /reverse reverses s by grapheme cluster', async () => {
  const r = await request(srv.port, { path: `/reverse?s=${encodeURIComponent('héllo👍🏽')}` });
  assert.equal(r.status, 200);
  assert.equal(r.text, '👍🏽olléh');
  assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
  assert.equal(r.headers['content-length'], String(Buffer.byteLength('👍🏽olléh')));
  assert.equal((await request(srv.port, { path: '/reverse?s=hello' })).text, 'olleh');
  assert.equal((await request(srv.port, { path: '/reverse?a=1&s=a+b%2Bc' })).text, 'c+b a');
  assert.equal((await request(srv.port, { path: '/reverse?s=' })).text, '');
});

test('raw non-ASCII bytes in the request line are refused by llhttp with 400', async () => {
  const head = Buffer.concat([
    Buffer.from('GET /reverse?s=h'),
    Buffer.from('é', 'utf8'),
    Buffer.from(' HTTP/1.1\r\nHost: x\r\n\r\n'),
  ]);
  const out = await raw(srv.port, [head]);
  assert.match(out.text, /^HTTP\/1\.1 400 /);
});

test('GET /reverse refuses invalid UTF-8, bad escapes and a missing s with 400', async () => {
  for (const path of ['/reverse?s=%FF', '/reverse?s=%C3', '/reverse?s=%E', '/reverse?s=%zz', '/reverse', '/reverse?t=1']) {
    const r = await request(srv.port, { path });
    assert.equal(r.status, 400, path);
  }
});

test('POST /reverse reverses the body', async () => {
  const r = await request(srv.port, { method: 'POST', path: '/reverse', body: 'héllo👍🏽' });
  assert.equal(r.status, 200);
  assert.equal(r.text, '👍🏽olléh');
  assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
  const empty = await request(srv.port, { method: 'POST', path: '/reverse', body: '' });
  assert.equal(empty.status, 200);
  assert.equal(empty.text, '');
});

test('POST /reverse with invalid UTF-8 gets 400', async () => {
  const r = await request(srv.port, { method: 'POST', path: '/reverse', body: Buffer.from([0x61, 0xff]) });
  assert.equal(r.status, 400);
});

test('POST /reverse over maxBody gets 413 and the connection closes', async () => {
  const r = await request(srv.port, { method: 'POST', path: '/reverse', body: 'x'.repeat(65) });
  assert.equal(r.status, 413);
  assert.equal(r.headers.connection, 'close');
  assert.equal((await request(srv.port, { method: 'POST', path: '/reverse', body: 'x'.repeat(64) })).status, 200);

  // Chunked: no declared length, refused once the limit is crossed, the rest is never read.
  const out = await raw(srv.port, [
    'POST /reverse HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n',
    `40\r\n${'a'.repeat(64)}\r\n`,
    50,
    `10\r\n${'b'.repeat(16)}\r\n`,
  ]);
  assert.match(out.text, /^HTTP\/1\.1 413 /);
  assert.match(out.text, /\r\nConnection: close\r\n/i);
  assert.ok(out.closed);
});

test('unknown paths get 404, wrong methods 405 with Allow', async () => {
  assert.equal((await request(srv.port, { path: '/nope' })).status, 404);
  assert.equal((await request(srv.port, { path: '/reverse/x?s=a' })).status, 404);
  const put = await request(srv.port, { method: 'PUT', path: '/reverse', body: 'x' });
  assert.equal(put.status, 405);
  assert.equal(put.headers.allow, 'GET, HEAD, POST');
  const post = await request(srv.port, { method: 'POST', path: '/healthz', body: 'x' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET, HEAD');
});

test('HEAD works like GET without a body', async () => {
  const r = await request(srv.port, { method: 'HEAD', path: '/reverse?s=abc' });
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-length'], '3');
  assert.equal(r.body.length, 0);
  assert.equal((await request(srv.port, { method: 'HEAD', path: '/healthz' })).status, 200);
});

test('GET /healthz is 200 ok while serving', async () => {
  const r = await request(srv.port, { path: '/healthz' });
  assert.equal(r.status, 200);
  assert.equal(r.text, 'ok\n');
});

test('keep-alive: two requests on one connection', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const sockets = new Set<unknown>();
  agent.on('free', (socket) => sockets.add(socket));
  assert.equal((await request(srv.port, { path: '/reverse?s=ab', agent })).text, 'ba');
  assert.equal((await request(srv.port, { path: '/reverse?s=cd', agent })).text, 'dc');
  assert.equal(sockets.size, 1);
  agent.destroy();
});

test('pipelining: two requests in one write get two responses in order', async () => {
  const out = await raw(srv.port, [
    'GET /reverse?s=first HTTP/1.1\r\nHost: x\r\n\r\n' +
      'POST /reverse HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecond',
  ]);
  const first = out.text.indexOf('tsrif');
  const second = out.text.indexOf('dnoces');
  assert.ok(first > 0 && second > first, out.text);
  assert.equal(out.text.match(/HTTP\/1\.1 200 OK/g)?.length, 2);
  assert.ok(out.closed);
});

test('Expect: 100-continue gets 100 Continue, then the response', async () => {
  const reply = await new Promise<string>((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port: srv.port,
      method: 'POST',
      path: '/reverse',
      agent: false,
      headers: { Expect: '100-continue', 'Content-Length': 3 },
    });
    let continued = false;
    req.on('continue', () => {
      continued = true;
      req.end('abc');
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => (continued ? resolve(body) : reject(new Error('no 100 Continue'))));
    });
    req.on('error', reject);
    req.flushHeaders();
  });
  assert.equal(reply, 'cba');

  // A declared body over maxBody is refused before the client is invited to send it.
  const out = await raw(srv.port, [
    'POST /reverse HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1000\r\n\r\n',
  ]);
  assert.match(out.text, /^HTTP\/1\.1 413 /);
  assert.doesNotMatch(out.text, /100 Continue/);
});

test('a chunked request body is reassembled', async () => {
  const body = await new Promise<string>((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: srv.port, method: 'POST', path: '/reverse', agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve(text));
      },
    );
    req.on('error', reject);
    assert.equal(req.getHeader('content-length'), undefined);
    // Two chunks, the second sent once the server has read the first.
    req.write('hel', () => void serverHasRead(req.socket!).then(() => req.end('lo👍🏽'), reject));
  });
  assert.equal(body, '👍🏽olleh');
});

test('an oversized request head gets 431', async () => {
  const out = await raw(srv.port, [`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`]);
  assert.match(out.text, /^HTTP\/1\.1 431 /);
  assert.ok(out.closed);
  const logged = srv.logs().find((l) => l.event === 'client-error' && l.status === '431');
  assert.ok(logged);
});

test('a malformed request line gets 400', async () => {
  const out = await raw(srv.port, ['GARBAGE\r\n\r\n']);
  assert.match(out.text, /^HTTP\/1\.1 400 /);
  assert.ok(out.closed);
  const missingHost = await raw(srv.port, ['GET /healthz HTTP/1.1\r\n\r\n']);
  assert.match(missingHost.text, /^HTTP\/1\.1 400 /);
});

test('a slowloris client gets 408 within about headersTimeout', async () => {
  const slow = await start({ headersTimeout: 0.5 });
  const trickle: (string | number)[] = ['GET /healthz HTTP/1.1\r\n'];
  // 20 s of trickle: a 408 well before its end is the timeout at work, whatever the load.
  for (let i = 0; i < 200; i++) trickle.push(100, `X-${i}: y\r\n`);
  const out = await raw(slow.port, trickle, 25_000);
  assert.match(out.text, /^HTTP\/1\.1 408 /);
  assert.ok(out.closed);
  assert.ok(out.ms >= 400 && out.ms < 15_000, `408 after ${out.ms} ms`);
  await slow.protocol.drain();
});

test('an absolute-form request-target is routed by its path', async () => {
  const out = await raw(srv.port, ['GET http://x/reverse?s=ab HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
  assert.match(out.text, /^HTTP\/1\.1 200 [^]*\r\n\r\nba$/);
});

test('keep-alive-timeout 0 turns keep-alive off', async () => {
  const noKeepAlive = await start({ keepAliveTimeout: 0 });
  const out = await raw(noKeepAlive.port, ['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n']);
  assert.match(out.text, /\r\nConnection: close\r\n/);
  assert.ok(out.closed);
  await noKeepAlive.protocol.drain();
});
