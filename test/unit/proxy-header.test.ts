// Corpus tests of the PROXY protocol header parser (src/protocols/proxy-header.ts): v1 and v2,
// every command and family, TLVs, and malformed headers, each fed whole, byte by byte and in
// seeded random chunks, with the bytes after the header checked to come back untouched.
// Runs in: the test runner (pure, no sockets).

import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import { crc32c, ProxyHeaderReader, TLV, V2_SIGNATURE, type ProxyHeader, type ProxyReadResult } from '../../src/protocols/proxy-header.js';

import { seededRandom as prng } from '../helpers/random.js';

type Chunker = (data: Buffer) => Buffer[];
const CHUNKERS: Array<[string, Chunker]> = [
  ['whole', (d) => [d]],
  ['byte by byte', (d) => [...d].map((b) => Buffer.from([b]))],
  ...[1, 2, 3, 42].map((seed): [string, Chunker] => [
    `random chunks (seed ${seed})`,
    (d) => {
      const next = prng(seed);
      const out: Buffer[] = [];
      for (let i = 0; i < d.length; ) {
        const n = 1 + Math.floor(next() * 20);
        out.push(d.subarray(i, i + n));
        i += n;
      }
      return out;
    },
  ]),
];

/** Feeds the chunks; returns the first result and checks that nothing comes after it. */
function feed(chunks: Buffer[]): ProxyReadResult | null {
  const reader = new ProxyHeaderReader();
  let result: ProxyReadResult | null = null;
  let rest: Buffer[] = [];
  for (const chunk of chunks) {
    if (result === null) {
      result = reader.push(chunk);
      if (result?.kind === 'header') rest = [result.rest];
    } else {
      assert.equal(reader.push(chunk), null, 'a reader answers once');
      rest.push(chunk);
    }
  }
  if (result?.kind === 'header') result = { ...result, rest: Buffer.concat(rest) };
  return result;
}

// ---- builders ----------------------------------------------------------------------------------

const ip4 = (a: string): Buffer => Buffer.from(a.split('.').map(Number));
function ip6(a: string): Buffer {
  const [head, tail] = a.includes('::') ? a.split('::') : [a, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return Buffer.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
}
const port = (p: number): Buffer => Buffer.from([p >> 8, p & 0xff]);
function unixField(path: string): Buffer {
  const b = Buffer.alloc(108);
  b.write(path);
  return b;
}
function tlv(type: number, value: Buffer | string): Buffer {
  const v = Buffer.from(value);
  return Buffer.concat([Buffer.from([type, v.length >> 8, v.length & 0xff]), v]);
}

function v2(verCmd: number, famProto: number, body: Buffer, opts: { lengthDelta?: number; crc?: 'good' | 'bad' } = {}): Buffer {
  let full = body;
  if (opts.crc) full = Buffer.concat([body, tlv(TLV.CRC32C, Buffer.alloc(4))]);
  const len = full.length + (opts.lengthDelta ?? 0);
  const header = Buffer.concat([V2_SIGNATURE, Buffer.from([verCmd, famProto, len >> 8, len & 0xff]), full]);
  if (opts.crc) {
    const crc = crc32c(header);
    header.writeUInt32BE(opts.crc === 'good' ? crc : (crc ^ 1) >>> 0, header.length - 4);
  }
  return header;
}

const inet4 = Buffer.concat([ip4('192.0.2.1'), ip4('198.51.100.2'), port(56324), port(443)]);
const inet6 = Buffer.concat([ip6('2001:db8::1'), ip6('2001:db8:0:0:1:0:0:2'), port(1), port(65535)]);
const mapped = Buffer.concat([ip6('::ffff:c000:0207'), ip6('::1'), port(4000), port(80)]);

const REST = Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n\r\n\x00\xff');

// ---- the corpus --------------------------------------------------------------------------------

type Expect = Partial<Omit<ProxyHeader, 'tlvs'>> & { tlvs?: Array<[number, string]> };

const GOOD: Array<[string, Buffer, Expect]> = [
  ['v1 TCP4', Buffer.from('PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n'),
    { version: 1, command: 'proxy', family: 'tcp4', source: { address: '192.0.2.1', port: 56324 }, destination: { address: '198.51.100.2', port: 443 } }],
  ['v1 TCP6, normalized', Buffer.from('PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::1 0 65535\r\n'),
    { version: 1, family: 'tcp6', source: { address: '2001:db8::1', port: 0 }, destination: { address: '::1', port: 65535 } }],
  ['v1 UNKNOWN alone', Buffer.from('PROXY UNKNOWN\r\n'), { version: 1, command: 'proxy', family: 'unspec', source: null }],
  ['v1 UNKNOWN with ignored fields', Buffer.from('PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n'),
    { version: 1, family: 'unspec', source: null }],
  ['v1 at its 107-byte limit', Buffer.from(`PROXY TCP6 ${'ffff:'.repeat(7)}ffff ${'ffff:'.repeat(7)}ffff 65535 65535\r\n`),
    { version: 1, family: 'tcp6', length: 104 }],
  ['v2 PROXY TCP4 stream', v2(0x21, 0x11, inet4),
    { version: 2, command: 'proxy', family: 'tcp4', transport: 'stream', source: { address: '192.0.2.1', port: 56324 }, destination: { address: '198.51.100.2', port: 443 }, tlvs: [] }],
  ['v2 PROXY TCP6', v2(0x21, 0x21, inet6),
    { family: 'tcp6', source: { address: '2001:db8::1', port: 1 }, destination: { address: '2001:db8::1:0:0:2', port: 65535 } }],
  ['v2 PROXY IPv4-mapped IPv6', v2(0x21, 0x21, mapped), { family: 'tcp6', source: { address: '::ffff:192.0.2.7', port: 4000 } }],
  ['v2 PROXY UNIX', v2(0x21, 0x31, Buffer.concat([unixField('/run/client.sock'), unixField('/run/raas.sock')])),
    { family: 'unix', source: { address: '/run/client.sock', port: 0 }, destination: { address: '/run/raas.sock', port: 0 } }],
  ['v2 LOCAL (health check) with no address', v2(0x20, 0x00, Buffer.alloc(0)), { version: 2, command: 'local', family: 'unspec', source: null }],
  ['v2 LOCAL ignores the address it carries', v2(0x20, 0x11, inet4), { command: 'local', family: 'tcp4', source: null, destination: null }],
  ['v2 PROXY UNSPEC', v2(0x21, 0x00, Buffer.alloc(0)), { command: 'proxy', family: 'unspec', source: null }],
  ['v2 PROXY TCP4 dgram', v2(0x21, 0x12, inet4), { transport: 'dgram', family: 'tcp4' }],
  ['v2 TLVs: ALPN, authority, unique id, noop', v2(0x21, 0x11, Buffer.concat([inet4, tlv(TLV.ALPN, 'h2'), tlv(TLV.AUTHORITY, 'example.com'), tlv(TLV.UNIQUE_ID, 'abc-123'), tlv(TLV.NOOP, '')])),
    { tlvs: [[TLV.ALPN, 'h2'], [TLV.AUTHORITY, 'example.com'], [TLV.UNIQUE_ID, 'abc-123'], [TLV.NOOP, '']] }],
  ['v2 TLV with a good CRC32C', v2(0x21, 0x11, Buffer.concat([inet4, tlv(TLV.AUTHORITY, 'a.example')]), { crc: 'good' }), { family: 'tcp4' }],
  ['v2 with a 60 KiB TLV', v2(0x21, 0x21, Buffer.concat([inet6, tlv(0xe0, Buffer.alloc(60 * 1024, 7))])), { family: 'tcp6' }],
];

const BAD: Array<[string, Buffer, RegExp]> = [
  ['an HTTP request', Buffer.from('GET / HTTP/1.1\r\n\r\n'), /no PROXY protocol header/],
  ['a line-protocol line', Buffer.from('hello\n'), /no PROXY protocol header/],
  ['v1 lower case', Buffer.from('proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n'), /no PROXY protocol header/],
  ['v1 without the space', Buffer.from('PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n'), /no PROXY protocol header/],
  ['v1 unknown protocol', Buffer.from('PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n'), /unknown protocol "UDP4"/],
  ['v1 "\\n" without "\\r"', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n'), /without "\\r"/],
  ['v1 "\\r" without "\\n"', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX'), /not followed/],
  ['v1 too long', Buffer.from(`PROXY UNKNOWN ${'x'.repeat(120)}\r\n`), /longer than 107/],
  ['v1 missing a port', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n'), /3 fields, expected 4/],
  ['v1 double space', Buffer.from('PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n'), /fields/],
  ['v1 port above 65535', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n'), /bad port/],
  ['v1 port with a leading zero', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n'), /bad port/],
  ['v1 TCP4 with an IPv6 address', Buffer.from('PROXY TCP4 ::1 5.6.7.8 1 2\r\n'), /bad address/],
  ['v1 TCP6 with an IPv4 address', Buffer.from('PROXY TCP6 1.2.3.4 ::1 1 2\r\n'), /bad address/],
  ['v1 with a NUL byte', Buffer.from('PROXY TCP4 1.2.3.4\x00 5.6.7.8 1 2\r\n'), /non-printable/],
  ['v2 signature off by one byte', Buffer.concat([V2_SIGNATURE.subarray(0, 11), Buffer.from([0x0b, 0x21, 0x11, 0, 12]), inet4]), /no PROXY protocol header/],
  ['v2 version 1', v2(0x11, 0x11, inet4), /version 1/],
  ['v2 version 3', v2(0x31, 0x11, inet4), /version 3/],
  ['v2 unknown command', v2(0x22, 0x11, inet4), /unknown command 2/],
  ['v2 unknown family', v2(0x21, 0x41, inet4), /unknown family/],
  ['v2 unknown transport', v2(0x21, 0x13, inet4), /unknown family\/transport/],
  ['v2 too short for TCP4', v2(0x21, 0x11, inet4.subarray(0, 8)), /too short for its address family/],
  ['v2 too short for TCP6', v2(0x21, 0x21, inet4), /too short/],
  ['v2 TLV cut after its type', v2(0x21, 0x11, Buffer.concat([inet4, Buffer.from([TLV.ALPN, 0])])), /ends inside a TLV/],
  ['v2 TLV longer than the header', v2(0x21, 0x11, Buffer.concat([inet4, Buffer.from([TLV.ALPN, 0, 9, 0x68])])), /longer than the header/],
  ['v2 bad CRC32C', v2(0x21, 0x11, Buffer.concat([inet4, tlv(TLV.AUTHORITY, 'a.example')]), { crc: 'bad' }), /CRC32C/],
];

describe('PROXY header corpus', () => {
  for (const [name, bytes, expect] of GOOD) {
    for (const [how, chunker] of CHUNKERS) {
      it(`${name}, ${how}`, () => {
        const result = feed(chunker(Buffer.concat([bytes, REST])));
        assert.ok(result !== null && result.kind === 'header', `expected a header, got ${JSON.stringify(result)}`);
        const { header, rest } = result;
        assert.equal(header.length, bytes.length, 'the header length is what it took on the wire');
        assert.deepEqual(rest, REST, 'the bytes after the header come back untouched');
        const { tlvs, ...fields } = expect;
        for (const [key, value] of Object.entries(fields)) {
          assert.deepEqual(header[key as keyof ProxyHeader], value, key);
        }
        if (tlvs) assert.deepEqual(header.tlvs.map((t) => [t.type, t.value.toString()]), tlvs);
      });
    }
  }

  for (const [name, bytes, reason] of BAD) {
    for (const [how, chunker] of CHUNKERS) {
      it(`refuses ${name}, ${how}`, () => {
        const result = feed(chunker(Buffer.concat([bytes, REST])));
        assert.ok(result !== null && result.kind === 'invalid', `expected invalid, got ${JSON.stringify(result)}`);
        assert.match(result.reason, reason);
      });
    }
  }
});

describe('PROXY header reader', () => {
  it('needs more bytes for every proper prefix of a header, then ends invalid', () => {
    for (const [, bytes] of GOOD.slice(0, 10)) {
      for (const cut of [1, 5, 12, 13, 15, bytes.length - 1]) {
        if (cut >= bytes.length) continue;
        const reader = new ProxyHeaderReader();
        assert.equal(reader.push(bytes.subarray(0, cut)), null, `prefix of ${cut} bytes`);
        const end = reader.end();
        assert.ok(end?.kind === 'invalid');
        assert.match(end.reason, /closed in the middle of the header/);
      }
    }
  });

  it('says when the peer closed before sending anything', () => {
    const end = new ProxyHeaderReader().end();
    assert.ok(end?.kind === 'invalid');
    assert.match(end.reason, /closed before sending a header/);
  });

  it('refuses garbage from its first byte, without waiting for more', () => {
    assert.equal(new ProxyHeaderReader().push(Buffer.from('G'))?.kind, 'invalid');
    assert.equal(new ProxyHeaderReader().push(Buffer.from('\r\n\r\n\x01'))?.kind, 'invalid');
    assert.equal(new ProxyHeaderReader().push(Buffer.from('PROXY TCP4 \x01'))?.kind, 'invalid');
  });

  it('reads a 64 KiB v2 header byte by byte without quadratic copying', () => {
    const body = Buffer.concat([inet4, tlv(0xe0, Buffer.alloc(65535 - inet4.length - 3, 1))]);
    const bytes = v2(0x21, 0x11, body);
    assert.equal(bytes.length, 16 + 65535);
    const started = process.hrtime.bigint();
    const result = feed([...bytes].map((b) => Buffer.from([b])));
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    assert.equal(result?.kind, 'header');
    // Quadratic copying would move ~2 GB here (seconds); the linear path takes milliseconds.
    assert.ok(ms < 5000, `took ${ms} ms`);
  });

  it('computes CRC32C (Castagnoli) on the standard check value', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  });

  it('formats v2 IPv6 addresses as node:net does', () => {
    for (const text of ['::', '::1', '2001:db8::', '1:0:0:2:0:0:0:3', '1:2:3:4:5:6:7:8', 'fe80::1:0:0:1', '0:0:1::', '1::2:0:0']) {
      const body = Buffer.concat([ip6(text), ip6('::1'), port(1), port(2)]);
      const result = feed([v2(0x21, 0x21, body)]);
      assert.ok(result?.kind === 'header');
      const expected = new URL(`http://[${text}]/`).hostname.slice(1, -1);
      assert.equal(result.header.source?.address, expected, text);
      assert.ok(net.isIPv6(result.header.source!.address));
    }
  });
});
