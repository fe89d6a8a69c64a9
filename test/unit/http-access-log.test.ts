// Tests of the HTTP access log (src/protocols/http/access-log.ts): combined and JSON lines written
// for real requests, byte counts, escaping, and reopening after logrotate moved the file.
// Runs in: the test runner, which plays both the worker (the protocol's servers) and the clients.

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { clfTime, escapeField, formatEntry } from '../../src/protocols/http/access-log.js';
import { request, start, tmpDir } from '../fixtures/http-helpers.js';
import { waitUntil } from '../helpers/raas.js';

function lines(file: string): string[] {
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
}

/** The line is written on the response's 'close', a tick after the client may have it all. */
async function waitLines(file: string, n: number): Promise<string[]> {
  await waitUntil(`${n} lines in ${file}`, () => fs.existsSync(file) && lines(file).length >= n, 15_000);
  return lines(file);
}

test('combined format: one Apache/nginx line per response', async () => {
  const file = path.join(tmpDir(), 'access.log');
  const srv = await start({ accessLog: file, accessLogFormat: 'combined' });
  await request(srv.port, {
    path: '/reverse?s=hello',
    headers: { 'User-Agent': 'test "agent"', Referer: 'http://ref.example/' },
  });
  await request(srv.port, { method: 'POST', path: '/reverse', body: 'héllo' });
  await request(srv.port, { method: 'HEAD', path: '/healthz' });
  await request(srv.port, { path: '/nope' });
  const [get, post, head, missing] = await waitLines(file, 4);

  const re =
    /^127\.0\.0\.1 - - \[\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "([^"]*)" (\d{3}) (\d+) "(.*)" "(.*)"$/;
  const g = re.exec(get ?? '');
  assert.ok(g, get);
  assert.deepEqual(g.slice(1), ['GET /reverse?s=hello HTTP/1.1', '200', '5', 'http://ref.example/', 'test \\x22agent\\x22']);
  assert.deepEqual(re.exec(post ?? '')?.slice(1, 4), ['POST /reverse HTTP/1.1', '200', String(Buffer.byteLength('olléh'))]);
  assert.deepEqual(re.exec(head ?? '')?.slice(1, 6), ['HEAD /healthz HTTP/1.1', '200', '0', '-', '-']);
  assert.deepEqual(re.exec(missing ?? '')?.slice(2, 4), ['404', '10']);
  await srv.protocol.drain();
  await srv.protocol.stop?.();
});

test('json format: one object per line', async () => {
  const file = path.join(tmpDir(), 'access.json');
  const srv = await start({ accessLog: file, accessLogFormat: 'json' });
  await request(srv.port, { path: '/reverse?s=ab', headers: { 'User-Agent': 'ua/1' } });
  const [line] = await waitLines(file, 1);
  const entry = JSON.parse(line ?? '{}') as Record<string, unknown>;
  assert.equal(entry.remote, '127.0.0.1');
  assert.equal(entry.method, 'GET');
  assert.equal(entry.url, '/reverse?s=ab');
  assert.equal(entry.status, 200);
  assert.equal(entry.bytes, 2);
  assert.equal(entry.ua, 'ua/1');
  assert.equal(typeof entry.duration_ms, 'number');
  assert.ok(!Number.isNaN(Date.parse(entry.time as string)));
  await srv.protocol.drain();
  await srv.protocol.stop?.();
});

test('reopenLogs() follows a file moved by logrotate', async () => {
  const dir = tmpDir();
  const file = path.join(dir, 'access.log');
  const srv = await start({ accessLog: file });
  await request(srv.port, { path: '/healthz' });
  await waitLines(file, 1);
  fs.renameSync(file, `${file}.1`);
  srv.protocol.reopenLogs?.();
  await request(srv.port, { path: '/reverse?s=x' });
  assert.equal((await waitLines(file, 1)).length, 1);
  assert.match(lines(file)[0] ?? '', /"GET \/reverse\?s=x HTTP\/1\.1" 200 1 /);
  assert.equal(lines(`${file}.1`).length, 1);
  await srv.protocol.drain();
  await srv.protocol.stop?.();
});

test('formatting helpers: CLF time in UTC, nginx-style escapes', () => {
  assert.equal(clfTime(new Date(Date.UTC(2000, 9, 10, 13, 55, 36))), '10/Oct/2000:13:55:36 +0000');
  assert.equal(escapeField('a"b\\c\n\x7fé'), 'a\\x22b\\x5cc\\x0a\\x7f\\xe9');
  const line = formatEntry(
    {
      start: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)),
      remote: '::1',
      method: 'GET',
      url: '/x',
      httpVersion: '1.0',
      status: 499,
      bytes: 0,
      durationMs: 1.23456,
      referer: '',
      userAgent: '',
    },
    'combined',
  );
  assert.equal(line, '::1 - - [02/Jan/2024:03:04:05 +0000] "GET /x HTTP/1.0" 499 0 "-" "-"\n');
});
