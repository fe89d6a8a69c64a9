// Incremental parser of the PROXY protocol header (haproxy's proxy-protocol.txt, versions 1 and
// 2) that a balancer (haproxy `send-proxy[-v2]`, nginx `proxy_protocol on`) writes at the start of
// every connection it opens to us, naming the client it relays.
// Pure: no I/O, fed whatever chunks the socket delivers. Runs in: workers.
//
// Strict on purpose: a listener that expects a header closes any connection whose first bytes are
// not exactly one, so nothing unparsed ever reaches the line or HTTP parser as if it were data.

import * as net from 'node:net';

export interface ProxyEndpoint {
  /** IP address as text (IPv6 compressed), or the socket path for the unix family. */
  address: string;
  /** 0 for the unix family. */
  port: number;
}

export interface ProxyTlv {
  type: number;
  value: Buffer;
}

export interface ProxyHeader {
  version: 1 | 2;
  /** proxy: a relayed connection. local: the balancer's own (a health check): keep the real peer. */
  command: 'proxy' | 'local';
  /** unspec: the balancer does not know the client (v1 UNKNOWN, v2 AF_UNSPEC): keep the real peer. */
  family: 'tcp4' | 'tcp6' | 'unix' | 'unspec';
  transport: 'stream' | 'dgram' | 'unspec';
  /** The client; null when the header carries no address (local, unspec). */
  source: ProxyEndpoint | null;
  /** The address the client connected to on the balancer. */
  destination: ProxyEndpoint | null;
  /** Version 2 type-length-value extensions (ALPN, authority, unique id, SSL...), in order. */
  tlvs: ProxyTlv[];
  /** Bytes the header took on the wire. */
  length: number;
}

export type ProxyReadResult = { kind: 'header'; header: ProxyHeader; rest: Buffer } | { kind: 'invalid'; reason: string };

/** v2 starts with these 12 bytes, chosen so that no v1 header and no HTTP request can. */
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ');
/** The longest v1 header, "\r\n" included (the spec's bound: a receiver reads at most this). */
export const V1_MAX_LENGTH = 107;
const V2_FIXED = 16;

export const TLV = {
  ALPN: 0x01,
  AUTHORITY: 0x02,
  CRC32C: 0x03,
  NOOP: 0x04,
  UNIQUE_ID: 0x05,
  SSL: 0x20,
  NETNS: 0x30,
} as const;

/** Address block length of each v2 family, by the family nibble. */
const V2_ADDRESS_LENGTH: Record<number, number> = { 0x1: 12, 0x2: 36, 0x3: 216 };
const UNIX_PATH_BYTES = 108;

type Parsed = { header: ProxyHeader } | { invalid: string } | null;

/**
 * Parses a header at the start of `data`: the header, a reason it is invalid, or null when more
 * bytes are needed to tell. Never reads past the header.
 */
export function parseProxyHeader(data: Buffer): Parsed {
  if (data.length === 0) return null;
  if (data[0] === V1_PREFIX[0]) return parseV1(data);
  if (data[0] === V2_SIGNATURE[0]) return parseV2(data);
  return { invalid: 'no PROXY protocol header' };
}

/** Feeds chunks until a whole header (or garbage) is seen. One reader per connection. */
export class ProxyHeaderReader {
  private parts: Buffer[] = [];
  private size = 0;
  private needed = 1;
  private done = false;

  /** The header with the bytes after it, invalid with a reason, or null while more are needed. */
  push(chunk: Buffer): ProxyReadResult | null {
    if (this.done) return null;
    this.parts.push(chunk);
    this.size += chunk.length;
    // A v2 header says its length up front: wait for all of it instead of re-parsing every chunk
    // (a 64 KiB header fed byte by byte would otherwise cost quadratic copying).
    if (this.size < this.needed) return null;
    const data = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts, this.size);
    this.parts = [data];
    const parsed = parseProxyHeader(data);
    if (parsed === null) {
      this.needed = neededLength(data);
      return null;
    }
    this.done = true;
    this.parts = [];
    if ('invalid' in parsed) return { kind: 'invalid', reason: parsed.invalid };
    return { kind: 'header', header: parsed.header, rest: data.subarray(parsed.header.length) };
  }

  /** The peer closed its side: a header still incomplete is invalid. */
  end(): ProxyReadResult | null {
    if (this.done) return null;
    this.done = true;
    return { kind: 'invalid', reason: this.size === 0 ? 'closed before sending a header' : 'closed in the middle of the header' };
  }
}

/** How many bytes must be buffered before parsing again can make progress. */
function neededLength(data: Buffer): number {
  if (data[0] === V2_SIGNATURE[0] && data.length >= V2_FIXED) return V2_FIXED + data.readUInt16BE(14);
  return data.length + 1;
}

// ---- version 1: "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n" -------------------------

function parseV1(data: Buffer): Parsed {
  const prefixBytes = Math.min(data.length, V1_PREFIX.length);
  if (!data.subarray(0, prefixBytes).equals(V1_PREFIX.subarray(0, prefixBytes))) return { invalid: 'no PROXY protocol header' };
  const lineEnd = data.indexOf(0x0d);
  const newline = data.indexOf(0x0a);
  if (newline !== -1 && (lineEnd === -1 || newline < lineEnd)) return { invalid: 'v1 header ends in "\\n" without "\\r"' };
  if (lineEnd === -1 || lineEnd + 1 >= data.length) {
    // No "\r\n" yet: either more is coming, or the line is already longer than allowed.
    if (data.length >= V1_MAX_LENGTH) return { invalid: `v1 header longer than ${V1_MAX_LENGTH} bytes` };
    if (!printable(data.subarray(V1_PREFIX.length, lineEnd === -1 ? data.length : lineEnd))) {
      return { invalid: 'v1 header holds a non-printable byte' };
    }
    return null;
  }
  if (data[lineEnd + 1] !== 0x0a) return { invalid: 'v1 header has "\\r" not followed by "\\n"' };
  const length = lineEnd + 2;
  if (length > V1_MAX_LENGTH) return { invalid: `v1 header longer than ${V1_MAX_LENGTH} bytes` };
  const line = data.subarray(V1_PREFIX.length, lineEnd);
  // Only printable US-ASCII: a NUL or a stray byte means this is not a header.
  if (!printable(line)) return { invalid: 'v1 header holds a non-printable byte' };
  const fields = line.toString('latin1').split(' ');
  const proto = fields[0];
  const base = { version: 1 as const, command: 'proxy' as const, tlvs: [], length };
  if (proto === 'UNKNOWN') {
    // The spec: whatever follows UNKNOWN up to "\r\n" is ignored.
    return { header: { ...base, family: 'unspec', transport: 'unspec', source: null, destination: null } };
  }
  if (proto !== 'TCP4' && proto !== 'TCP6') return { invalid: `v1 header with unknown protocol ${JSON.stringify(proto)}` };
  if (fields.length !== 5) return { invalid: `v1 ${proto} header has ${fields.length - 1} fields, expected 4` };
  const [, srcText, dstText, srcPortText, dstPortText] = fields as [string, string, string, string, string];
  const isIP = proto === 'TCP4' ? net.isIPv4 : net.isIPv6;
  if (!isIP(srcText) || !isIP(dstText)) return { invalid: `v1 ${proto} header with a bad address` };
  const srcPort = v1Port(srcPortText);
  const dstPort = v1Port(dstPortText);
  if (srcPort === null || dstPort === null) return { invalid: 'v1 header with a bad port' };
  const normal = proto === 'TCP6' ? canonicalIPv6 : (a: string): string => a;
  return {
    header: {
      ...base,
      family: proto === 'TCP4' ? 'tcp4' : 'tcp6',
      transport: 'stream',
      source: { address: normal(srcText), port: srcPort },
      destination: { address: normal(dstText), port: dstPort },
    },
  };
}

function printable(bytes: Buffer): boolean {
  for (const byte of bytes) if (byte < 0x20 || byte > 0x7e) return false;
  return true;
}

/** A decimal port 0-65535, no sign, no leading zero (the spec's form). */
function v1Port(text: string): number | null {
  if (!/^(0|[1-9]\d{0,4})$/.test(text)) return null;
  const n = Number(text);
  return n <= 65535 ? n : null;
}

// ---- version 2: signature, ver|cmd, fam|proto, length, addresses, TLVs -----------------------

function parseV2(data: Buffer): Parsed {
  const sigBytes = Math.min(data.length, V2_SIGNATURE.length);
  if (!data.subarray(0, sigBytes).equals(V2_SIGNATURE.subarray(0, sigBytes))) return { invalid: 'no PROXY protocol header' };
  if (data.length < 13) return null;
  const verCmd = data[12] as number;
  if (verCmd >> 4 !== 0x2) return { invalid: `v2 header with version ${verCmd >> 4}` };
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return { invalid: `v2 header with unknown command ${cmd}` };
  if (data.length < 14) return null;
  const famProto = data[13] as number;
  const fam = famProto >> 4;
  const proto = famProto & 0x0f;
  if (fam > 3 || proto > 2) return { invalid: `v2 header with unknown family/transport 0x${famProto.toString(16)}` };
  if (data.length < V2_FIXED) return null;
  const bodyLength = data.readUInt16BE(14);
  const length = V2_FIXED + bodyLength;
  if (data.length < length) return null;
  const body = data.subarray(V2_FIXED, length);

  const addressLength = fam === 0 ? 0 : (V2_ADDRESS_LENGTH[fam] as number);
  if (bodyLength < addressLength) return { invalid: `v2 header too short for its address family (${bodyLength} < ${addressLength})` };
  const tlvs = parseTlvs(body.subarray(addressLength));
  if (typeof tlvs === 'string') return { invalid: tlvs };
  const crc = tlvs.find((t) => t.type === TLV.CRC32C);
  if (crc !== undefined && !crcMatches(data.subarray(0, length), crc)) return { invalid: 'v2 header fails its CRC32C' };

  const family = (['unspec', 'tcp4', 'tcp6', 'unix'] as const)[fam] as ProxyHeader['family'];
  const transport = (['unspec', 'stream', 'dgram'] as const)[proto] as ProxyHeader['transport'];
  const header: ProxyHeader = { version: 2, command: cmd === 0 ? 'local' : 'proxy', family, transport, source: null, destination: null, tlvs, length };
  // LOCAL: "the receiver must ignore the address information" (it is the balancer's own check).
  if (cmd === 0) return { header };
  if (fam === 0x1) {
    header.source = { address: ipv4(body, 0), port: body.readUInt16BE(8) };
    header.destination = { address: ipv4(body, 4), port: body.readUInt16BE(10) };
  } else if (fam === 0x2) {
    header.source = { address: ipv6(body, 0), port: body.readUInt16BE(32) };
    header.destination = { address: ipv6(body, 16), port: body.readUInt16BE(34) };
  } else if (fam === 0x3) {
    header.source = { address: unixPath(body, 0), port: 0 };
    header.destination = { address: unixPath(body, UNIX_PATH_BYTES), port: 0 };
  }
  return { header };
}

function parseTlvs(bytes: Buffer): ProxyTlv[] | string {
  const tlvs: ProxyTlv[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (bytes.length - at < 3) return 'v2 header ends inside a TLV';
    const type = bytes[at] as number;
    const size = bytes.readUInt16BE(at + 1);
    if (at + 3 + size > bytes.length) return `v2 TLV 0x${type.toString(16)} longer than the header`;
    tlvs.push({ type, value: bytes.subarray(at + 3, at + 3 + size) });
    at += 3 + size;
  }
  return tlvs;
}

function ipv4(b: Buffer, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/** RFC 5952 text: lower-case hex, the longest run of two or more zero groups as "::". */
function ipv6(b: Buffer, at: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(b.readUInt16BE(at + 2 * i));
  // IPv4-mapped addresses read as Node reports them for dual-stack peers: ::ffff:192.0.2.1
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${ipv4(b, at + 12)}`;
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [bestAt, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestAt === -1) return hex.join(':');
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLen).join(':')}`;
}

function canonicalIPv6(text: string): string {
  try {
    return new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return text.toLowerCase();
  }
}

function unixPath(b: Buffer, at: number): string {
  const field = b.subarray(at, at + UNIX_PATH_BYTES);
  const nul = field.indexOf(0);
  return field.subarray(0, nul === -1 ? field.length : nul).toString('utf8');
}

// ---- CRC32C (Castagnoli), for the optional PP2_TYPE_CRC32C TLV -------------------------------

let crcTable: Uint32Array | null = null;

export function crc32c(bytes: Uint8Array): number {
  if (crcTable === null) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const byte of bytes) crc = (crcTable[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** The checksum covers the whole header with the checksum field itself zeroed. */
function crcMatches(header: Buffer, tlv: ProxyTlv): boolean {
  if (tlv.value.length !== 4) return false;
  const copy = Buffer.from(header);
  const offset = tlv.value.byteOffset - header.byteOffset;
  const expected = tlv.value.readUInt32BE(0);
  copy.fill(0, offset, offset + 4);
  return crc32c(copy) === expected;
}
