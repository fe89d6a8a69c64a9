// Unit tests of the listen-address notation (src/config/listen-address.ts).
// Runs in: the node:test runner process; pure, no sockets.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SettingError } from '../../src/config/errors.js';
import { formatListenAddress, parseListenAddress, type ListenAddress } from '../../src/config/listen-address.js';

const CWD = '/srv/app';

describe('parseListenAddress', () => {
  const good: [string, ListenAddress][] = [
    ['127.0.0.1:2200', { protocol: 'line', kind: 'tcp', host: '127.0.0.1', port: 2200, family: 4, spec: 'line://127.0.0.1:2200' }],
    [':2200', { protocol: 'line', kind: 'tcp', host: '0.0.0.0', port: 2200, family: 4, spec: 'line://0.0.0.0:2200' }],
    ['[::1]:2200', { protocol: 'line', kind: 'tcp', host: '::1', port: 2200, family: 6, spec: 'line://[::1]:2200' }],
    ['[::]:80', { protocol: 'line', kind: 'tcp', host: '::', port: 80, family: 6, spec: 'line://[::]:80' }],
    ['localhost:0', { protocol: 'line', kind: 'tcp', host: '127.0.0.1', port: 0, family: 4, spec: 'line://127.0.0.1:0' }],
    ['line://10.0.0.1:65535', { protocol: 'line', kind: 'tcp', host: '10.0.0.1', port: 65535, family: 4, spec: 'line://10.0.0.1:65535' }],
    ['http://127.0.0.1:8080', { protocol: 'http', kind: 'tcp', host: '127.0.0.1', port: 8080, family: 4, spec: 'http://127.0.0.1:8080' }],
    ['HTTP://[0:0:0:0:0:0:0:1]:8080', { protocol: 'http', kind: 'tcp', host: '::1', port: 8080, family: 6, spec: 'http://[::1]:8080' }],
    ['unix:/tmp/x.sock', { protocol: 'line', kind: 'unix', path: '/tmp/x.sock', spec: 'line://unix:/tmp/x.sock' }],
    ['http://unix:/tmp/y.sock', { protocol: 'http', kind: 'unix', path: '/tmp/y.sock', spec: 'http://unix:/tmp/y.sock' }],
    ['unix:run/z.sock', { protocol: 'line', kind: 'unix', path: '/srv/app/run/z.sock', spec: 'line://unix:/srv/app/run/z.sock' }],
    ['http+proxy://127.0.0.1:8080', { protocol: 'http+proxy', kind: 'tcp', host: '127.0.0.1', port: 8080, family: 4, spec: 'http+proxy://127.0.0.1:8080' }],
    ['LINE+PROXY://[::1]:2200', { protocol: 'line+proxy', kind: 'tcp', host: '::1', port: 2200, family: 6, spec: 'line+proxy://[::1]:2200' }],
    ['http+proxy://unix:/run/r.sock', { protocol: 'http+proxy', kind: 'unix', path: '/run/r.sock', spec: 'http+proxy://unix:/run/r.sock' }],
  ];
  for (const [input, expected] of good) {
    it(`accepts ${input}`, () => {
      assert.deepEqual(parseListenAddress(input, CWD), expected);
    });
  }

  const bad: [string, RegExp][] = [
    ['127.0.0.1', /no port/],
    [':99999', /port "99999"/],
    ['ftp://x:1', /unknown protocol "ftp:\/\/"/],
    ['proxy://127.0.0.1:1', /unknown protocol "proxy:\/\/"/],
    ['http+proxy://', /nothing after/],
    ['[::1', /unclosed/],
    ['', /empty/],
    ['127.0.0.1:', /no port/],
    ['127.0.0.1:http', /port "http"/],
    ['::1:80', /brackets/],
    ['example.com:80', /not an IP address.*no DNS/],
    ['[127.0.0.1]:80', /not an IPv6 address/],
    ['[::1]80', /no port after/],
    ['unix:', /empty unix socket path/],
    ['unix:///tmp/x.sock', /without "\/\/"/],
    ['http://', /nothing after/],
    [' 127.0.0.1:80', /whitespace/],
    [`unix:/${'x'.repeat(200)}`, /longer than/],
  ];
  for (const [input, why] of bad) {
    it(`refuses ${JSON.stringify(input)}`, () => {
      assert.throws(
        () => parseListenAddress(input, CWD),
        (err: unknown) => {
          assert.ok(err instanceof SettingError);
          assert.equal(err.setting, 'listen');
          assert.equal(err.value, input);
          assert.match(err.message, /setting "listen"/);
          assert.ok(err.message.includes(JSON.stringify(input)), err.message);
          assert.match(err.message, why);
          return true;
        },
      );
    });
  }

  it('resolves relative unix paths against process.cwd() by default', () => {
    const a = parseListenAddress('unix:rel.sock');
    assert.equal(a.kind === 'unix' && a.path, `${process.cwd()}/rel.sock`);
  });
});

describe('formatListenAddress', () => {
  it('round-trips: parsing a normalized spec gives the same address', () => {
    for (const input of ['127.0.0.1:2200', ':1', '[::1]:2200', 'http://unix:/tmp/y.sock', 'http://localhost:8080']) {
      const a = parseListenAddress(input, CWD);
      assert.equal(formatListenAddress(a), a.spec);
      assert.deepEqual(parseListenAddress(a.spec, '/elsewhere'), a);
    }
  });
});
