// The admin listener: a small node:http server the master runs on its own socket (never a
// worker's) for /metrics, /status and the live status page. Fed only by the master's stats.
// Runs in: master.
//
// It must never stall the master's loop: the report is recomputed at most once a second and
// the metrics text is rendered once per report; connections are capped, requests and idle
// connections time out, only GET and HEAD are served, and request bodies are never read.

import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAdminAddress, type AdminAddress } from '../config/admin-address.js';
import { LOG, type Logger } from '../log.js';
import { nodeHttp } from '../node-http.js';
import type { StatusReport } from '../master/stats.js';
import { renderMetrics } from './metrics.js';

const MAX_CONNECTIONS = 16;
const TIMEOUT_MS = 5000;
/** A busy address (the previous master during an upgrade) is tried again this often. */
const RETRY_MS = 2000;
const PAGE_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'page.html');

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export class AdminServer {
  private readonly server: http.Server;
  private readonly address: AdminAddress;
  private page: Buffer | null = null;
  private rendered: { report: StatusReport; text: Buffer } | null = null;
  private retry: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    spec: string,
    private readonly report: () => StatusReport,
    private readonly log: Logger,
  ) {
    this.address = parseAdminAddress(spec);
    this.server = nodeHttp.createServer(
      { headersTimeout: TIMEOUT_MS, requestTimeout: TIMEOUT_MS, keepAliveTimeout: TIMEOUT_MS, maxHeaderSize: 8192 },
      (req, res) => this.serve(req, res),
    );
    this.server.maxConnections = MAX_CONNECTIONS;
    this.server.setTimeout(TIMEOUT_MS, (socket: net.Socket) => socket.destroy());
    this.server.on('clientError', (_err, socket: net.Socket) => socket.destroy());
  }

  start(): void {
    try {
      this.page = fs.readFileSync(PAGE_FILE);
    } catch (err) {
      this.log.error(LOG.ADMIN_ERROR, { error: `status page missing: ${(err as Error).message}` });
    }
    this.listen(true);
  }

  close(): void {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.server.close();
    this.server.closeAllConnections();
  }

  private listen(first: boolean): void {
    if (this.closed) return;
    const onError = (err: NodeJS.ErrnoException): void => {
      // The master serving before us (USR2) still holds the address: wait for it to leave.
      if (err.code === 'EADDRINUSE') {
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
    };
    if (this.address.kind === 'unix') {
      removeStaleSocket(this.address.path).then(
        () => this.server.listen(this.address.kind === 'unix' ? this.address.path : '', onListening),
        () => onError(Object.assign(new Error('in use'), { code: 'EADDRINUSE' })),
      );
    } else {
      this.server.listen(this.address.port, this.address.host, onListening);
    }
  }

  private serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return this.send(req, res, 405, 'text/plain; charset=utf-8', Buffer.from('only GET and HEAD\n'), { Allow: 'GET, HEAD' });
    }
    const route = (req.url ?? '/').split('?')[0];
    try {
      if (route === '/metrics') return this.send(req, res, 200, METRICS_CONTENT_TYPE, this.metrics());
      if (route === '/status') return this.send(req, res, 200, 'application/json', Buffer.from(JSON.stringify(this.report())));
      if (route === '/' && this.page) return this.send(req, res, 200, 'text/html; charset=utf-8', this.page);
      this.send(req, res, 404, 'text/plain; charset=utf-8', Buffer.from('not found: try /, /status or /metrics\n'));
    } catch (err) {
      this.log.error(LOG.ADMIN_ERROR, { url: req.url, error: err instanceof Error ? err.message : String(err) });
      this.send(req, res, 500, 'text/plain; charset=utf-8', Buffer.from('internal error\n'));
    }
  }

  /** The metrics text, rendered once per report (the report itself changes at most once a second). */
  private metrics(): Buffer {
    const report = this.report();
    if (this.rendered?.report !== report) this.rendered = { report, text: Buffer.from(renderMetrics(report)) };
    return this.rendered.text;
  }

  private send(req: http.IncomingMessage, res: http.ServerResponse, status: number, type: string, body: Buffer, extra: Record<string, string> = {}): void {
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': body.length, 'Cache-Control': 'no-store', ...extra });
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}

/** A socket file nobody answers on (a crashed master) is removed; a live one is refused. */
function removeStaleSocket(file: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!fs.existsSync(file)) return resolve();
    const probe = net.connect(file);
    probe.once('connect', () => {
      probe.destroy();
      reject(new Error('in use'));
    });
    probe.once('error', () => {
      fs.rm(file, { force: true }, () => resolve());
    });
  });
}
