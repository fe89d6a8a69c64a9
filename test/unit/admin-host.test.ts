// Unit: how the admin listener reads a Host header and tells loopback from the rest (the DNS
// rebinding guard and the off-loopback warning of src/admin/server.ts).
// Runs in: the test runner process.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostName, isLoopback } from '../../src/admin/server.js';

describe('admin Host header', () => {
  it('reads the host without port, brackets, case or a final dot', () => {
    assert.equal(hostName('LocalHost:9200'), 'localhost');
    assert.equal(hostName('localhost.'), 'localhost');
    assert.equal(hostName('[::1]:9200'), '::1');
    assert.equal(hostName('[::1]'), '::1');
    assert.equal(hostName('127.0.0.1'), '127.0.0.1');
    assert.equal(hostName(' evil.example:80 '), 'evil.example');
    assert.equal(hostName('::1'), '::1', 'a bare IPv6 address keeps its colons');
  });

  it('loopback is 127.0.0.0/8 and ::1, also IPv4-mapped; names are not addresses', () => {
    for (const a of ['127.0.0.1', '127.255.0.9', '::1', '::ffff:127.0.0.1', '::FFFF:127.1.2.3']) assert.ok(isLoopback(a), a);
    for (const a of ['0.0.0.0', '::', '10.0.0.1', '::ffff:10.0.0.1', '128.0.0.1', 'localhost', '127.0.0.1.nip.io', '1127.0.0.1']) assert.ok(!isLoopback(a), a);
  });
});
