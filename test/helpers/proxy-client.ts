// Test clients that play a balancer speaking the PROXY protocol: v1 and v2 header builders, and a
// raw exchange over TCP (from a chosen local address) or a Unix socket that writes a header in
// pieces, then a payload, and collects everything until the server closes.
// Runs in: the test runner process.

import * as net from 'node:net';
import { serverHasRead } from './sockets.js';

export const V2_SIGNATURE = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1');

export function proxyV1(src: string, srcPort: number, dst: string, dstPort: number): Buffer {
  const family = net.isIPv6(src) ? 'TCP6' : 'TCP4';
  return Buffer.from(`PROXY ${family} ${src} ${dst} ${srcPort} ${dstPort}\r\n`);
}

function ipBytes(address: string): Buffer {
  if (net.isIPv4(address)) return Buffer.from(address.split('.').map(Number));
  const [head = '', tail] = address.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), 2 * i));
  return out;
}

/** A v2 PROXY (or LOCAL) header for a TCP client, with optional TLVs [type, value]. */
export function proxyV2(
  src: string,
  srcPort: number,
  dst: string,
  dstPort: number,
  opts: { local?: boolean; tlvs?: Array<[number, string]> } = {},
): Buffer {
  const six = net.isIPv6(src);
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(srcPort, 0);
  ports.writeUInt16BE(dstPort, 2);
  const tlvs = (opts.tlvs ?? []).map(([type, value]) => {
    const v = Buffer.from(value);
    return Buffer.concat([Buffer.from([type, v.length >> 8, v.length & 0xff]), v]);
  });
  const body = Buffer.concat([ipBytes(src), ipBytes(dst), ports, ...tlvs]);
  const fixed = Buffer.from([opts.local ? 0x20 : 0x21, six ? 0x21 : 0x11, body.length >> 8, body.length & 0xff]);
  return Buffer.concat([V2_SIGNATURE, fixed, body]);
}

export type Endpoint = { host: string; port: number; localAddress?: string } | { path: string };

export interface Exchange {
  data: Buffer;
  text: string;
  /** The server closed or reset before our deadline. */
  closed: boolean;
  error: string | null;
  ms: number;
}

/**
 * Connects, writes each of `pieces` (each once the server has read the one before, so that they
 * are separate reads on the server: the attack on its reassembly; `split: false` writes them at
 * once, for a flood), and reads until the server closes or `timeoutMs`.
 */
export function exchange(to: Endpoint, pieces: Array<Buffer | string>, opts: { timeoutMs?: number; split?: boolean } = {}): Promise<Exchange> {
  return new Promise((resolve) => {
    const socket = 'path' in to ? net.connect(to.path) : net.connect({ host: to.host, port: to.port, localAddress: to.localAddress });
    const chunks: Buffer[] = [];
    const started = Date.now();
    let settled = false;
    const finish = (closed: boolean, error: string | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      socket.destroy();
      const data = Buffer.concat(chunks);
      resolve({ data, text: data.toString('utf8'), closed, error, ms: Date.now() - started });
    };
    const deadline = setTimeout(() => finish(false, null), opts.timeoutMs ?? 10_000);
    socket.on('connect', async () => {
      for (const [i, piece] of pieces.entries()) {
        if (i > 0 && opts.split !== false) {
          // Bounded by this exchange's own deadline, which then finishes it.
          const read = await serverHasRead(socket, undefined, opts.timeoutMs ?? 10_000).then(() => true, () => false);
          if (!read) return;
        }
        if (!socket.writable) return;
        socket.write(piece);
      }
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => finish(true, null));
    socket.on('close', () => finish(true, null));
    socket.on('error', (err: NodeJS.ErrnoException) => finish(true, err.code ?? err.message));
  });
}

/** A GET with `Connection: close`, as raw bytes. */
export function rawGet(path: string): string {
  return `GET ${path} HTTP/1.1\r\nHost: raas.test\r\nConnection: close\r\n\r\n`;
}

/** The body of the one HTTP response in `text` (Content-Length framed), and its status. */
export function responseOf(text: string): { status: number; body: string } {
  const m = /^HTTP\/1\.1 (\d{3}) [^\r]*\r\n([\s\S]*?)\r\n\r\n([\s\S]*)$/.exec(text);
  if (!m) throw new Error(`not an HTTP response: ${JSON.stringify(text.slice(0, 200))}`);
  return { status: Number(m[1]), body: m[3] ?? '' };
}
