// The admin listener: a small node:http server the master runs on its own socket (never a
// worker's) for /metrics, /status, the live status page and /healthz (the instance's own health,
// health.ts). Fed only by the master's stats and its snapshot.
// Runs in: master.
//
// It must never stall the master's loop: the report is recomputed at most once a second and
// the metrics text is rendered once per report; connections are capped, requests and idle
// connections time out, only GET and HEAD are served, and request bodies are never read.
//
// Nor may anyone lock others out of it or read it from a browser (docs/OBSERVABILITY.md):
// - 16 connections in all, 4 per peer address; at a limit, the oldest connection with no request
//   being answered (idle, or still trickling its headers) makes room for the new one, so idle
//   connections, even from every 127.x source address, never keep a scrape out;
// - every connection is closed 5 s after it was accepted, whatever it sends (and every response
//   closes its connection);
// - a Host header must name loopback or the admin address itself (DNS rebinding: a page of
//   evil.example that re-resolves to 127.0.0.1 sends Host: evil.example);
// - a Unix socket path follows --listen's rule (only a dead socket is replaced) and socket-mode;
// - bound off loopback, it warns at start: it has no authentication.

import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAdminAddress, type AdminAddress } from '../config/admin-address.js';
import { LOG, type Logger } from '../log.js';
import { bindListener } from '../master/listeners/listeners.js';
import { nodeHttp } from '../node-http.js';
import type { StatusReport } from '../master/stats/stats.js';
import type { MasterStatus } from '../master/files/status-file.js';
import { healthOf } from './health.js';
import { renderMetrics } from './metrics.js';
import { errorMessage } from '../errors.js';

export const MAX_CONNECTIONS = 16;
/** Connections one peer address may hold; Unix socket peers are not told apart (socket-mode guards them). */
export const MAX_PER_PEER = 4;
/** The life of a connection, from accept, whatever it sends (keep-alive included). */
export const TIMEOUT_MS = 5000;
/** A busy address (the previous master during an upgrade) is tried again this often. */
const RETRY_MS = 2000;
const PAGE_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'page.html');

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface AdminOptions {
  /** Permissions of a Unix socket file (the socket-mode setting); undefined: the umask decides. */
  socketMode?: number;
}

/** The admin server class with the master's settings applied (what boot.ts hands the master). */
export function adminServerWith(options: AdminOptions): typeof AdminServer {
  return class extends AdminServer {
    constructor(spec: string, report: () => StatusReport, log: Logger, status: () => MasterStatus) {
      super(spec, report, log, status, options);
    }
  };
}

interface Connection {
  socket: net.Socket;
  /** The peer's IP address; null on a Unix socket. */
  peer: string | null;
  /** A request is being answered: not to be closed to make room. */
  busy: boolean;
}

export class AdminServer {
  private readonly server: http.Server;
  private readonly address: AdminAddress;
  private page: Buffer | null = null;
  private rendered: { report: StatusReport; text: Buffer } | null = null;
  private retry: NodeJS.Timeout | null = null;
  private closed = false;
  /** Open connections, oldest first (a Set keeps insertion order). */
  private readonly connections = new Set<Connection>();
  private readonly bySocket = new WeakMap<net.Socket, Connection>();
  /** The socket file we bound (its inode), removed at close only if it is still that file. */
  private unixFile: { path: string; dev: number; ino: number } | null = null;

  constructor(
    spec: string,
    private readonly report: () => StatusReport,
    private readonly log: Logger,
    /** The master's snapshot, current at every call (/healthz must not lag behind a lame duck). */
    private readonly status: () => MasterStatus,
    private readonly options: AdminOptions = {},
  ) {
    this.address = parseAdminAddress(spec);
    this.server = nodeHttp.createServer(
      { headersTimeout: TIMEOUT_MS, requestTimeout: TIMEOUT_MS, keepAliveTimeout: TIMEOUT_MS, maxHeaderSize: 8192 },
      (req, res) => this.serve(req, res),
    );
    // The limits are ours (admit); this only bounds a burst of connections closed to make room
    // whose 'close' has not come yet (net counts them until then).
    this.server.maxConnections = 4 * MAX_CONNECTIONS;
    this.server.on('connection', (socket: net.Socket) => this.admit(socket));
    this.server.setTimeout(TIMEOUT_MS, (socket: net.Socket) => socket.destroy());
    this.server.on('clientError', (_err, socket: net.Socket) => socket.destroy());
  }

  start(): void {
    try {
      this.page = fs.readFileSync(PAGE_FILE);
    } catch (err) {
      this.log.error(LOG.ADMIN_ERROR, { error: `status page missing: ${errorMessage(err)}` });
    }
    this.listen(true);
  }

  close(): void {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    // The file goes before the socket: a successor master (USR2) waiting for the path finds it
    // gone and binds its own, which we must not remove afterwards (hence the inode check).
    if (this.unixFile !== null) {
      try {
        const now = fs.lstatSync(this.unixFile.path);
        if (now.dev === this.unixFile.dev && now.ino === this.unixFile.ino) fs.unlinkSync(this.unixFile.path);
      } catch {
        // gone already
      }
      this.unixFile = null;
    }
    this.server.close();
    this.server.closeAllConnections();
    for (const c of this.connections) c.socket.destroy();
  }

  /**
   * A new connection, within the limits: over one, the oldest connection that is not being
   * answered (of that peer, or of all) is closed to make room; if every one is being answered
   * (for a few milliseconds each), the newcomer gets a 503.
   */
  private admit(socket: net.Socket): void {
    const peer = peerOf(socket);
    const connection: Connection = { socket, peer, busy: false };
    const fromPeer = peer === null ? 0 : [...this.connections].filter((c) => c.peer === peer).length;
    if (fromPeer >= MAX_PER_PEER && !this.makeRoom((c) => c.peer === peer)) {
      return refuse(socket, `more than ${MAX_PER_PEER} admin connections from ${peer}, all busy`);
    }
    if (this.connections.size >= MAX_CONNECTIONS && !this.makeRoom(() => true)) {
      return refuse(socket, `more than ${MAX_CONNECTIONS} admin connections, all busy`);
    }
    this.connections.add(connection);
    this.bySocket.set(socket, connection);
    // The deadline from accept: the idle and header timeouts restart with every byte a client
    // trickles (and Node checks headersTimeout only every few seconds).
    const deadline = setTimeout(() => socket.destroy(), TIMEOUT_MS);
    deadline.unref();
    socket.once('close', () => {
      clearTimeout(deadline);
      this.connections.delete(connection);
    });
  }

  private makeRoom(which: (c: Connection) => boolean): boolean {
    for (const c of this.connections) {
      if (c.busy || !which(c)) continue;
      this.connections.delete(c);
      c.socket.destroy();
      return true;
    }
    return false;
  }

  private listen(first: boolean): void {
    if (this.closed) return;
    const onError = (err: NodeJS.ErrnoException): void => {
      this.server.off('error', onError);
      // The master serving before us (USR2) still holds the address: wait for it to leave.
      if (err.code === 'EADDRINUSE' || /\bEADDRINUSE\b/.test(err.message)) {
        if (first) this.log.warn(LOG.ADMIN_ERROR, { admin: this.address.spec, error: 'address in use; retrying' });
        this.retry = setTimeout(() => this.listen(false), RETRY_MS);
        this.retry.unref();
        return;
      }
      this.log.error(LOG.ADMIN_ERROR, { admin: this.address.spec, error: err.message });
    };
    this.server.once('error', onError);
    const onListening = (): void => {
      this.server.off('error', onError);
      const bound = this.server.address();
      const shown = typeof bound === 'object' && bound !== null ? `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}` : this.address.spec;
      this.log.info(LOG.ADMIN_LISTENING, { admin: shown });
      if (typeof bound === 'object' && bound !== null && !isLoopback(bound.address)) {
        // Chosen over a required token: a token in a Prometheus config or a URL is one more
        // secret to leak, and the operator who binds off loopback usually has a firewall or a
        // proxy in front. The warning makes sure that is a decision, not an accident.
        this.log.warn(LOG.ADMIN_EXPOSED, {
          admin: shown,
          advice: 'the admin listener has no authentication and is reachable from off this machine: bind it to 127.0.0.1 or a unix: socket, or firewall it',
        });
      }
    };
    if (this.address.kind === 'unix') {
      // Bound as --listen binds its Unix sockets (the same code): an existing path is replaced
      // only if it is a socket nobody answers on, and the mode is set before anyone can connect.
      const unix = this.address;
      bindListener({ kind: 'unix', path: unix.path, protocol: 'http', spec: unix.spec }, this.options.socketMode).then(
        (bound) => {
          if (this.closed) {
            bound.handle?.close();
            fs.rmSync(unix.path, { force: true });
            return;
          }
          try {
            const st = fs.lstatSync(unix.path);
            this.unixFile = { path: unix.path, dev: st.dev, ino: st.ino };
          } catch {
            this.unixFile = null;
          }
          this.server.listen(bound.handle, onListening);
        },
        (err: NodeJS.ErrnoException) => onError(err),
      );
    } else {
      this.server.listen(this.address.port, this.address.host, onListening);
    }
  }

  /** A browser sends the name it resolved: only loopback names and the admin address are ours. */
  private hostAllowed(req: http.IncomingMessage): boolean {
    if (this.address.kind === 'unix') return true; // no browser page can reach a Unix socket
    const header = req.headers.host;
    if (header === undefined) return true; // HTTP/1.0 tools; a browser always sends one
    const host = hostName(header);
    if (host === 'localhost' || isLoopback(host)) return true;
    if (host === this.address.host.toLowerCase()) return true;
    // Bound to a wildcard: the address the client reached is the admin address, literally.
    const local = req.socket.localAddress;
    return local !== undefined && host === unmapped(local).toLowerCase();
  }

  private serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    const connection = this.bySocket.get(req.socket);
    // Not admitted (refused with a 503 already, whatever it sends after).
    if (connection === undefined) return void req.socket.destroy();
    connection.busy = true;
    res.once('close', () => (connection.busy = false));
    if (!this.hostAllowed(req)) {
      const shown = JSON.stringify(String(req.headers.host).slice(0, 100));
      const body = `421 Misdirected Request: Host ${shown} is not served here (a guard against DNS rebinding); ask for localhost, a loopback address or ${this.address.spec}\n`;
      return this.send(req, res, 421, 'text/plain; charset=utf-8', Buffer.from(body), { 'X-Content-Type-Options': 'nosniff' });
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return this.send(req, res, 405, 'text/plain; charset=utf-8', Buffer.from('only GET and HEAD\n'), { Allow: 'GET, HEAD' });
    }
    const route = (req.url ?? '/').split('?')[0];
    try {
      if (route === '/metrics') return this.send(req, res, 200, METRICS_CONTENT_TYPE, this.metrics());
      if (route === '/healthz') return this.healthz(req, res);
      if (route === '/status') return this.send(req, res, 200, 'application/json', Buffer.from(JSON.stringify(this.report())));
      if (route === '/' && this.page) return this.send(req, res, 200, 'text/html; charset=utf-8', this.page);
      this.send(req, res, 404, 'text/plain; charset=utf-8', Buffer.from('not found: try /, /status, /metrics or /healthz\n'));
    } catch (err) {
      this.log.error(LOG.ADMIN_ERROR, { url: req.url, error: errorMessage(err) });
      this.send(req, res, 500, 'text/plain; charset=utf-8', Buffer.from('internal error\n'));
    }
  }

  /** 200 while this instance serves, 503 otherwise (health.ts); the body says why, in JSON. */
  private healthz(req: http.IncomingMessage, res: http.ServerResponse): void {
    const health = healthOf(this.status());
    const body = Buffer.from(JSON.stringify({ status: health.ok ? 'ok' : 'unavailable', ...health }) + '\n');
    this.send(req, res, health.ok ? 200 : 503, 'application/json', body);
  }

  /** The metrics text, rendered once per report (the report itself changes at most once a second). */
  private metrics(): Buffer {
    const report = this.report();
    if (this.rendered?.report !== report) this.rendered = { report, text: Buffer.from(renderMetrics(report)) };
    return this.rendered.text;
  }

  /**
   * Every response closes its connection: a kept-alive one would die at its deadline, perhaps
   * just as the status page sends its next refresh on it. A loopback connect per scrape or
   * refresh (every 15 s, every 2 s) costs nothing.
   */
  private send(req: http.IncomingMessage, res: http.ServerResponse, status: number, type: string, body: Buffer, extra: Record<string, string> = {}): void {
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': body.length, 'Cache-Control': 'no-store', Connection: 'close', ...extra });
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}

/** A connection over a limit: told so in plain HTTP, then closed. */
function refuse(socket: net.Socket, why: string): void {
  const body = `503 Service Unavailable: ${why}; try again\n`;
  socket.end(
    `HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n${body}`,
    () => socket.destroy(),
  );
}

/** ::ffff:127.0.0.1 (an IPv4 client of a dual-stack socket) is 127.0.0.1. */
function unmapped(address: string): string {
  return address.toLowerCase().startsWith('::ffff:') && address.includes('.') ? address.slice('::ffff:'.length) : address;
}

function peerOf(socket: net.Socket): string | null {
  return socket.remoteAddress === undefined ? null : unmapped(socket.remoteAddress);
}

/** 127.0.0.0/8 and ::1 (also written as IPv4-mapped). */
export function isLoopback(address: string): boolean {
  const a = unmapped(address.toLowerCase());
  return a === '::1' || (net.isIPv4(a) && a.startsWith('127.'));
}

/** The host of a Host header, lowercased, without port, brackets or a final dot. */
export function hostName(header: string): string {
  let h = header.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    h = end === -1 ? h.slice(1) : h.slice(1, end);
  } else {
    const colon = h.lastIndexOf(':');
    if (colon !== -1 && h.indexOf(':') === colon) h = h.slice(0, colon);
  }
  return h.endsWith('.') ? h.slice(0, -1) : h;
}
