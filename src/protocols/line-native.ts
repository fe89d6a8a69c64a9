// The native path of the line protocol: a small N-API addon (native/line-fast.c, built at install)
// accepts, reads, reverses ASCII lines and answers on a C thread of the worker (its own epoll,
// EPOLLEXCLUSIVE on the listening fds); lines with other bytes come back here, batched, for the
// grapheme-cluster reversal.
// Without the addon (no compiler at install) or with RAAS_NATIVE=0 the JavaScript path serves.
// Runs in: workers.

import { createRequire } from 'node:module';
import type { Settings } from '../config/settings.js';
import { LOG, type Logger } from '../log.js';
import { reverseUtf8 } from './reverse.js';

type ServerHandle = { readonly __brand: 'line-fast server' };

interface LineFastAddon {
  create(
    options: { maxLine: number; idleMs: number; lineTimeoutMs: number; bufferLimit: number },
    onUnicode: (lines: Array<Buffer | null | undefined>) => Array<Buffer | null | undefined>,
  ): ServerHandle;
  listen(server: ServerHandle, fd: number, backlog: number): void;
  drain(server: ServerHandle, onDrained: () => void): void;
  stats(server: ServerHandle): [accepted: number, answered: number, errors: number, open: number];
  listenLoopback(): [fd: number, port: number];
}

let addon: LineFastAddon | null | undefined;

/** The addon, or null when it is missing or RAAS_NATIVE=0 asks for the JavaScript path. */
export function loadLineFast(): LineFastAddon | null {
  if (process.env.RAAS_NATIVE === '0') return null;
  if (addon === undefined) {
    try {
      addon = createRequire(import.meta.url)('../../../build/Release/line_fast.node') as LineFastAddon;
    } catch {
      addon = null;
    }
  }
  return addon;
}

/** Settings another engineer adds (line-timeout, line-buffer-limit); defaults while absent. */
type LineLimits = { lineTimeout?: number; lineBufferLimit?: number };
const DEFAULT_LINE_TIMEOUT_S = 5;
const DEFAULT_LINE_BUFFER_LIMIT = 16 * 1024 * 1024;

export interface NativeLineCounters {
  /** Cumulative since the worker started. */
  accepted: number;
  answered: number;
  errors: number;
  /** Connections open now. */
  open: number;
}

export class NativeLineServer {
  private readonly handle: ServerHandle;
  private draining: Promise<void> | null = null;

  constructor(
    private readonly addon: LineFastAddon,
    settings: Settings,
    log: Logger,
  ) {
    const limits = settings as Settings & LineLimits;
    // Non-ASCII lines, one array per loop turn; each entry is replaced by its reply (null:
    // invalid UTF-8, undefined: failed, the connection is closed without a reply).
    const onUnicode = (lines: Array<Buffer | null | undefined>): Array<Buffer | null | undefined> => {
      for (let i = 0; i < lines.length; i++) {
        try {
          lines[i] = reverseUtf8(lines[i] as Buffer, true);
        } catch (err) {
          log.error(LOG.HANDLER_ERROR, { protocol: 'line', error: String(err) });
          lines[i] = undefined;
        }
      }
      return lines;
    };
    this.handle = addon.create(
      {
        maxLine: settings.maxLine,
        idleMs: Math.max(1, Math.round(settings.idleTimeout * 1000)),
        lineTimeoutMs: Math.max(1, Math.round((limits.lineTimeout ?? DEFAULT_LINE_TIMEOUT_S) * 1000)),
        bufferLimit: limits.lineBufferLimit ?? DEFAULT_LINE_BUFFER_LIMIT,
      },
      onUnicode,
    );
  }

  /** Accepts on an inherited (or test) listening fd; listen(2) again with `backlog`. */
  listen(fd: number, backlog: number): void {
    this.addon.listen(this.handle, fd, backlog);
  }

  /** Stops accepting at once; resolves once every open connection is finished. */
  drain(): Promise<void> {
    this.draining ??= new Promise<void>((resolve) => this.addon.drain(this.handle, resolve));
    return this.draining;
  }

  /**
   * Counters kept in C and read here, never per request: the place where per-worker stats (sent
   * with every beat) take the native path's accepted and answered counts.
   */
  counters(): NativeLineCounters {
    const [accepted, answered, errors, open] = this.addon.stats(this.handle);
    return { accepted, answered, errors, open };
  }
}

/** Tests: a listening socket on 127.0.0.1 (port 0) as a bare fd, for NativeLineServer.listen. */
export function listenLoopbackFd(): { fd: number; port: number } | null {
  const a = loadLineFast();
  if (!a) return null;
  const [fd, port] = a.listenLoopback();
  return { fd, port };
}
