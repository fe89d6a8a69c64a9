// Tests of `trust-proxy` (src/protocols/http/forwarded.ts): the rightmost untrusted hop of
// X-Forwarded-For or Forwarded, spoofing attempts, junk hops; then through the real HTTP protocol
// into the access log.
// Runs in: the test runner, which plays both the worker (the protocol's server) and the clients.

import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cidrMatcher } from '../../src/config/cidr.js';
import { forwardedClient, forwardedHops } from '../../src/protocols/http/forwarded.js';
import { request, start, tmpDir } from '../fixtures/http-helpers.js';
import { waitUntil } from '../helpers/raas.js';

const trusted = cidrMatcher(['127.0.0.0/8', '10.0.0.0/8', '::1/128']);

describe('forwardedClient', () => {
  const cases: Array<[string, string | undefined, Record<string, string>, string | undefined]> = [
    ['an untrusted peer: its headers are ignored', '192.0.2.1', { 'x-forwarded-for': '203.0.113.9' }, '192.0.2.1'],
    ['one trusted balancer', '127.0.0.1', { 'x-forwarded-for': '203.0.113.9' }, '203.0.113.9'],
    ['a chain of trusted balancers', '127.0.0.1', { 'x-forwarded-for': '203.0.113.9, 10.0.0.5, 10.0.0.6' }, '203.0.113.9'],
    ['a forged left part is ignored: the rightmost untrusted hop wins', '127.0.0.1', { 'x-forwarded-for': '1.1.1.1, 203.0.113.9, 10.0.0.5' }, '203.0.113.9'],
    ['no header: the peer', '127.0.0.1', {}, '127.0.0.1'],
    ['every hop trusted: the farthest', '127.0.0.1', { 'x-forwarded-for': '10.0.0.1, 10.0.0.2' }, '10.0.0.1'],
    ['junk hop: the nearest trusted hop', '127.0.0.1', { 'x-forwarded-for': '203.0.113.9, unknown, 10.0.0.5' }, '10.0.0.5'],
    ['log-injection attempt', '127.0.0.1', { 'x-forwarded-for': '1.2.3.4 - - [01/Jan/2000] "GET /" 200' }, '127.0.0.1'],
    ['ports and brackets are dropped', '127.0.0.1', { 'x-forwarded-for': '[2001:db8::9]:4711, 203.0.113.9:80' }, '203.0.113.9'],
    ['Forwarded wins over X-Forwarded-For', '::1', { forwarded: 'for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711"', 'x-forwarded-for': '198.51.100.1' }, '2001:db8:cafe::17'],
    ['Forwarded with a trusted last hop', '::1', { forwarded: 'for=192.0.2.60, for=10.0.0.5;proto=https' }, '192.0.2.60'],
    ['Forwarded obfuscated identifier', '::1', { forwarded: 'for=192.0.2.60, for=_hidden, for=10.0.0.5' }, '10.0.0.5'],
    ['Forwarded element without for=', '::1', { forwarded: 'for=192.0.2.60, by=10.0.0.9' }, '::1'],
    ['Forwarded quoted comma', '::1', { forwarded: 'for="192.0.2.61";x="a,b"' }, '192.0.2.61'],
    ['an IPv4-mapped peer is trusted as IPv4', '::ffff:127.0.0.1', { 'x-forwarded-for': '203.0.113.10' }, '203.0.113.10'],
    ['a unix peer (no address) is not trusted', undefined, { 'x-forwarded-for': '203.0.113.9' }, undefined],
  ];
  for (const [what, peer, headers, expected] of cases) {
    it(what, () => assert.equal(forwardedClient(peer, headers, trusted), expected));
  }

  it('reads repeated X-Forwarded-For headers as one list', () => {
    assert.deepEqual(forwardedHops({ 'x-forwarded-for': ['1.1.1.1', '2.2.2.2, 3.3.3.3'] as unknown as string }), ['1.1.1.1', '2.2.2.2', '3.3.3.3']);
  });
});

describe('trust-proxy in the access log', () => {
  async function logged(trustProxy: string[], headers: Record<string, string>): Promise<string> {
    const file = path.join(tmpDir(), 'access.log');
    const srv = await start({ accessLog: file, trustProxy });
    await request(srv.port, { path: '/reverse?s=x', headers });
    // The line is written on the response's 'close', a tick after the client may have it all.
    let text = '';
    await waitUntil('the access log line', () => (text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '') !== '', 15_000);
    await srv.protocol.drain();
    await srv.protocol.stop?.();
    return text;
  }

  it('off by default: the socket peer, whatever the headers say', async () => {
    assert.match(await logged([], { 'X-Forwarded-For': '203.0.113.9' }), /^127\.0\.0\.1 - - /);
  });

  it('with the balancer trusted: the client the balancer names', async () => {
    assert.match(await logged(['127.0.0.1'], { 'X-Forwarded-For': '6.6.6.6, 203.0.113.9' }), /^203\.0\.113\.9 - - /);
    assert.match(await logged(['127.0.0.0/8'], { Forwarded: 'for="[2001:db8::5]:1"' }), /^2001:db8::5 - - /);
  });

  it('with another balancer trusted: the peer', async () => {
    assert.match(await logged(['10.0.0.0/8'], { 'X-Forwarded-For': '203.0.113.9' }), /^127\.0\.0\.1 - - /);
  });
});
