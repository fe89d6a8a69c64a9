// Unit tests of CIDR lists (src/config/cidr.ts) and of the settings that use them
// (proxy-from, trust-proxy).
// Runs in: the test runner (pure).

import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { cidrMatcher, normalizeCidr } from '../../src/config/cidr.js';
import { coerceSetting } from '../../src/config/coerce.js';
import { SETTINGS } from '../../src/config/settings.js';

describe('CIDR items', () => {
  it('normalizes hosts and blocks', () => {
    assert.equal(normalizeCidr('10.0.0.0/8'), '10.0.0.0/8');
    assert.equal(normalizeCidr('192.0.2.7'), '192.0.2.7/32');
    assert.equal(normalizeCidr('::1'), '::1/128');
    assert.equal(normalizeCidr('fd00::/8'), 'fd00::/8');
  });

  for (const [bad, why] of [
    ['10.0.0.0/33', /prefix length must be 0-32/],
    ['::/129', /0-128/],
    ['10.0.0.0/', /prefix length/],
    ['10.0.0.0/x', /prefix length/],
    ['example.com', /not an IP address or CIDR block/],
    ['10.0.0/8', /not an IP address/],
  ] as const) {
    it(`refuses ${bad}`, () => assert.throws(() => normalizeCidr(bad), why));
  }

  it('matches peers, IPv4-mapped IPv6 included', () => {
    const match = cidrMatcher(['127.0.0.0/8', '::1/128', '10.1.0.0/16', 'fd00::/8']);
    for (const yes of ['127.0.0.1', '127.255.0.9', '::1', '::ffff:127.0.0.1', '::FFFF:10.1.2.3', '10.1.255.255', 'fd12::5']) {
      assert.equal(match(yes), true, yes);
    }
    for (const no of ['128.0.0.1', '10.2.0.1', '::2', '::ffff:192.0.2.1', 'fe80::1', '', undefined, 'not-an-ip']) {
      assert.equal(match(no), false, String(no));
    }
  });

  it('ignores host bits of a block, and an empty list matches nobody', () => {
    assert.equal(cidrMatcher(['10.1.2.3/8'])('10.200.0.1'), true);
    assert.equal(cidrMatcher([])('127.0.0.1'), false);
  });
});

describe('proxy-from, trust-proxy and lame-duck settings', () => {
  const spec = (name: string) => SETTINGS.find((s) => s.name === name)!;

  it('proxy-from defaults to loopback; trust-proxy to off; lame-duck to 0', () => {
    assert.deepEqual(spec('proxy-from').default, ['127.0.0.0/8', '::1/128']);
    assert.deepEqual(spec('trust-proxy').default, []);
    assert.equal(spec('lame-duck').default, 0);
  });

  it('takes comma-separated CIDR lists and names the setting in errors', () => {
    assert.deepEqual(coerceSetting(spec('proxy-from'), '10.0.0.0/8, 192.0.2.1', '/'), ['10.0.0.0/8', '192.0.2.1/32']);
    assert.deepEqual(coerceSetting(spec('trust-proxy'), ['::1'], '/'), ['::1/128']);
    assert.deepEqual(coerceSetting(spec('trust-proxy'), '', '/'), [], 'trust-proxy may be set back to off');
    assert.throws(() => coerceSetting(spec('proxy-from'), '10.0.0.0/40', '/'), /setting "proxy-from".*prefix length/);
    assert.throws(() => coerceSetting(spec('trust-proxy'), 'balancer.local', '/'), /setting "trust-proxy".*not an IP address/);
    assert.throws(() => coerceSetting(spec('proxy-from'), '', '/'), /at least one item/);
    assert.equal(coerceSetting(spec('lame-duck'), '2.5', '/'), 2.5);
    assert.throws(() => coerceSetting(spec('lame-duck'), '-1', '/'), /lame-duck/);
  });
});
