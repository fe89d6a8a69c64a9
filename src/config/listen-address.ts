// Parses and formats the `listen` notation: [line://|http://|https://|line+proxy://|http+proxy://]
// then HOST:PORT, :PORT, [IPV6]:PORT or unix:PATH. Pure: no DNS, no sockets.
// Runs in: master and control commands (workers get addresses already parsed by the master).
//
// Only IP literals and `localhost` are accepted as hosts. Resolving names would make the bound
// address depend on the resolver at boot and again at every reload, and a name with several
// addresses would bind just one of them; an operator who wants a name can resolve it themselves.

import * as net from 'node:net';
import * as path from 'node:path';
import { SettingError } from './errors.js';

/**
 * `+proxy`: every connection starts with a PROXY protocol header (v1 or v2) naming the client a
 * balancer relays. The master carries the name as it carries any other; workers read the header
 * (src/protocols/proxy-listener.ts) before the line or HTTP protocol sees the connection.
 */
export type ListenProtocol = 'line' | 'http' | 'https' | 'line+proxy' | 'http+proxy';

export type ListenAddress = {
  protocol: ListenProtocol;
  /** Normalized notation, always with its protocol: `line://127.0.0.1:2200`, `http://unix:/run/x.sock`. */
  spec: string;
} & (
  | { kind: 'tcp'; host: string; port: number; family: 4 | 6 }
  | { kind: 'unix'; path: string }
);

export const LISTEN_PROTOCOLS: readonly ListenProtocol[] = ['line', 'http', 'https', 'line+proxy', 'http+proxy'];

const EXPECTED =
  'expected HOST:PORT, :PORT, [IPV6]:PORT or unix:PATH, optionally prefixed by line://, http://, https://, line+proxy:// or http+proxy://';

// sun_path is 108 bytes on Linux and 104 on the BSDs and macOS, the terminating NUL included.
// Checking here gives a message naming the setting instead of a bare EINVAL from bind(2).
const MAX_UNIX_PATH_BYTES = process.platform === 'linux' ? 107 : 103;

/**
 * Parses one listen address. A relative unix socket path is resolved against `cwd`, so that the
 * address still means the same socket after the master changes directory or re-executes itself.
 */
export function parseListenAddress(spec: string, cwd: string = process.cwd()): ListenAddress {
  const fail = (why: string): SettingError => new SettingError('listen', spec, `${why}; ${EXPECTED}`);
  if (typeof spec !== 'string' || spec === '') throw fail('empty address');
  if (/[\s\u0000-\u001f\u007f]/.test(spec)) throw fail('whitespace or control character in address');

  let protocol: ListenProtocol = 'line';
  let rest = spec;
  const prefix = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(spec);
  if (prefix !== null) {
    const name = (prefix[1] as string).toLowerCase();
    if (name === 'unix') throw fail('a unix socket is written unix:PATH, without "//"');
    if (!(LISTEN_PROTOCOLS as readonly string[]).includes(name)) throw fail(`unknown protocol "${name}://"`);
    protocol = name as ListenProtocol;
    rest = spec.slice(prefix[0].length);
    if (rest === '') throw fail(`nothing after "${name}://"`);
  }

  if (/^unix:/i.test(rest)) {
    const given = rest.slice('unix:'.length);
    if (given === '') throw fail('empty unix socket path');
    const resolved = path.resolve(cwd, given);
    if (Buffer.byteLength(resolved) > MAX_UNIX_PATH_BYTES) {
      throw fail(`unix socket path ${resolved} is longer than ${MAX_UNIX_PATH_BYTES} bytes`);
    }
    return withSpec({ protocol, kind: 'unix', path: resolved });
  }

  let host: string;
  let portText: string;
  let family: 4 | 6;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close === -1) throw fail('unclosed "[" in IPv6 address');
    const literal = rest.slice(1, close);
    if (!net.isIPv6(literal)) throw fail(`"${literal}" is not an IPv6 address`);
    const after = rest.slice(close + 1);
    if (!after.startsWith(':')) throw fail('no port after the IPv6 address');
    host = canonicalIPv6(literal);
    portText = after.slice(1);
    family = 6;
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon === -1) throw fail('no port');
    const given = rest.slice(0, colon);
    portText = rest.slice(colon + 1);
    if (given.includes(':')) throw fail('an IPv6 address goes in brackets, e.g. [::1]:2200');
    if (given === '') host = '0.0.0.0'; // Unicorn's ":PORT": every IPv4 interface
    else if (net.isIPv4(given)) host = given;
    else if (given.toLowerCase() === 'localhost') host = '127.0.0.1';
    else throw fail(`"${given}" is not an IP address (only IP literals and localhost are accepted; no DNS)`);
    family = 4;
  }
  if (portText === '') throw fail('no port');
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw fail(`port "${portText}" is not a whole number from 0 to 65535`);
  }
  return withSpec({ protocol, kind: 'tcp', host, port: Number(portText), family });
}

/** The normalized notation of an address; parsing it again gives the same address. */
export function formatListenAddress(a: ListenAddress | DistributiveOmit<ListenAddress, 'spec'>): string {
  const where =
    a.kind === 'unix' ? `unix:${a.path}` : a.family === 6 ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
  return `${a.protocol}://${where}`;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function withSpec(a: DistributiveOmit<ListenAddress, 'spec'>): ListenAddress {
  return { ...a, spec: formatListenAddress(a) } as ListenAddress;
}

// "[0:0:0:0:0:0:0:1]:80" and "[::1]:80" are one socket; canonical text lets duplicates be spotted.
// The WHATWG URL parser does the RFC 5952 compression; zone ids (fe80::1%eth0) it refuses are kept.
function canonicalIPv6(literal: string): string {
  try {
    return new URL(`http://[${literal}]/`).hostname.slice(1, -1);
  } catch {
    return literal.toLowerCase();
  }
}
