// The HTTP access log: one line per response, Apache/nginx "combined" or JSON lines, written to a
// file (reopened on USR1 for logrotate) or to stderr ("-").
// Runs in: workers.
//
// Every worker appends to the same file: each line goes out in one write(2) on an fd opened with
// O_APPEND, so lines from different processes never interleave mid-line. The file is opened (at
// boot and on USR1) by safe-file.ts's openAppendFile: never through a symlink, only a file of ours
// or root's, created 0640 whatever the umask; the master checked it the same way at start.

import * as fs from 'node:fs';
import type * as http from 'node:http';
import { LOG, type Logger } from '../../log.js';
import { openAppendFile } from '../../safe-file.js';
import { errorMessage } from '../../errors.js';

export type AccessLogFormat = 'combined' | 'json';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

export interface AccessEntry {
  start: Date;
  remote: string;
  method: string;
  url: string;
  httpVersion: string;
  status: number;
  bytes: number;
  durationMs: number;
  referer: string;
  userAgent: string;
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** `10/Oct/2000:13:55:36 +0000`, always UTC. */
export function clfTime(d: Date): string {
  return (
    `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`
  );
}

/** nginx-style escaping inside a quoted field: `"`, `\`, controls and non-ASCII become \xHH. */
export function escapeField(s: string): string {
  return s.replace(/[\x00-\x1f"\\\x7f-\uffff]/g, (c) => {
    const code = c.charCodeAt(0);
    return code > 0xff ? `\\u${code.toString(16).padStart(4, '0')}` : `\\x${code.toString(16).padStart(2, '0')}`;
  });
}

export function formatEntry(e: AccessEntry, format: AccessLogFormat): string {
  if (format === 'json') {
    return (
      JSON.stringify({
        time: e.start.toISOString(),
        remote: e.remote,
        method: e.method,
        url: e.url,
        status: e.status,
        bytes: e.bytes,
        duration_ms: Math.round(e.durationMs * 1000) / 1000,
        ua: e.userAgent,
        referer: e.referer,
      }) + '\n'
    );
  }
  const dash = (s: string): string => (s === '' ? '-' : escapeField(s));
  return (
    `${e.remote} - - [${clfTime(e.start)}] "${escapeField(`${e.method} ${e.url} HTTP/${e.httpVersion}`)}" ` +
    `${e.status} ${e.bytes} "${dash(e.referer)}" "${dash(e.userAgent)}"\n`
  );
}

export class AccessLog {
  private fd: number | null = null;

  /**
   * Opens `target` now: a bad path fails the worker's boot rather than losing lines.
   * `clientAddress`: who the client is when not the socket's peer (trust-proxy, forwarded.ts).
   */
  constructor(
    private readonly target: string,
    private readonly format: AccessLogFormat,
    private readonly log: Logger,
    private readonly clientAddress?: (req: http.IncomingMessage) => string | undefined,
  ) {
    if (target === '-') return;
    try {
      this.fd = openAppendFile(target);
    } catch (err) {
      throw new Error(`cannot use access-log ${target}: ${errorMessage(err)}`);
    }
  }

  /** Reopens the file by name (after logrotate moved it); keeps the old fd if that fails. */
  reopen(): void {
    if (this.target === '-') return;
    let fd: number;
    try {
      fd = openAppendFile(this.target);
    } catch (err) {
      this.log.error(LOG.LOG_REOPEN_FAILED, { path: this.target, error: errorMessage(err) });
      return;
    }
    this.close();
    this.fd = fd;
  }

  close(): void {
    if (this.fd === null) return;
    try {
      fs.closeSync(this.fd);
    } catch {
      // already closed
    }
    this.fd = null;
  }

  /** Starts timing `req` and writes its line once `res` is finished or aborted. */
  track(req: http.IncomingMessage, res: http.ServerResponse): void {
    const start = new Date();
    const t0 = process.hrtime.bigint();
    // Captured now: a closed socket no longer knows its peer.
    const remote = (this.clientAddress ? this.clientAddress(req) : req.socket.remoteAddress) ?? '-';
    let bytes = 0;
    const count = (chunk: unknown, encoding: unknown): void => {
      if (typeof chunk === 'string') {
        bytes += Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
      } else if (chunk instanceof Uint8Array) {
        bytes += chunk.byteLength;
      }
    };
    // node:http does not expose the body bytes of one response (socket.bytesWritten spans the
    // whole keep-alive connection and includes heads), so count what the handler writes.
    type Fn = (...args: unknown[]) => unknown;
    const write = res.write as unknown as Fn;
    const end = res.end as unknown as Fn;
    (res as unknown as { write: Fn }).write = function (this: unknown, ...args: unknown[]) {
      count(args[0], args[1]);
      return write.apply(this, args);
    };
    (res as unknown as { end: Fn }).end = function (this: unknown, ...args: unknown[]) {
      count(args[0], args[1]);
      return end.apply(this, args);
    };

    res.once('close', () => {
      const status = res.headersSent ? res.statusCode : 499; // nginx: client closed first
      const bodyless = req.method === 'HEAD' || status === 204 || status === 304;
      const referer = req.headers.referer;
      this.write(
        formatEntry(
          {
            start,
            remote,
            method: req.method ?? '-',
            url: req.url ?? '-',
            httpVersion: req.httpVersion,
            status,
            bytes: bodyless ? 0 : bytes,
            durationMs: Number(process.hrtime.bigint() - t0) / 1e6,
            referer: typeof referer === 'string' ? referer : '',
            userAgent: req.headers['user-agent'] ?? '',
          },
          this.format,
        ),
      );
    });
  }

  private write(line: string): void {
    try {
      // "-": straight to fd 2, as RAAS's own lines: process.stderr may be the app's, framed as
      // app-output (worker/app-output.ts).
      fs.writeSync(this.fd ?? 2, line);
    } catch {
      // A full disk must not take the worker down; the request was already served.
    }
  }
}
