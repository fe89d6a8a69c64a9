// The native path of the line protocol: a small N-API addon (native/line-fast.c, built at install)
// accepts, reads, reverses ASCII lines and answers on a C thread of the worker (its own epoll,
// EPOLLEXCLUSIVE on the listening fds); lines with other bytes come back here, batched, for the
// grapheme-cluster reversal.
// Without the addon (no compiler at install) or with RAAS_NATIVE=0 the JavaScript path serves.
// Runs in: workers.

import { loadAddon } from '../native.js';
import type { Settings } from '../config/settings.js';
import { LATENCY_BUCKETS_S } from '../ipc.js';
import { LOG, type Logger } from '../log.js';
import { NATIVE_STATS, type NativeStat } from './line-contract.js';
import { reverseUtf8 } from './reverse.js';
import type { ExternalCounts, NativeBudget } from './types.js';

type ServerHandle = { readonly __brand: 'line-fast server' };

interface LineFastAddon {
  create(
    options: { maxLine: number; idleMs: number; lineTimeoutMs: number; bufferLimit: number },
    onUnicode: (lines: Array<Buffer | null | undefined>) => Array<Buffer | null | undefined>,
  ): ServerHandle;
  /** Returns the listener's index for stats(): 0, 1, ... in listen order. */
  listen(server: ServerHandle, fd: number, backlog: number): number;
  drain(server: ServerHandle, onDrained: () => void): void;
  /** NATIVE_STATS in that order (accepted ... latency sum in us), then the latency buckets (LATENCY_BUCKETS_S, +Inf). */
  stats(server: ServerHandle, listener?: number): number[];
  /** Missing from an addon built before it (then stats.ts polls the counters). */
  setBudget?(server: ServerHandle, total: number, onReached?: (answered: number) => void): void;
  listenLoopback(): [fd: number, port: number];
}

/** The addon, or null when it is missing or RAAS_NATIVE=0 asks for the JavaScript path (src/native.ts). */
export function loadLineFast(): LineFastAddon | null {
  return loadAddon<LineFastAddon>('line_fast');
}

/** Cumulative since the worker started (open: now); one listener's, or the whole server's. */
export interface NativeLineCounters extends ExternalCounts {
  /** Answered ERR line timeout, ERR server busy (for the rate-limited log lines). */
  timeouts: number;
  busy: number;
}

/** stats(): the NATIVE_STATS counters, then the histogram's buckets (LATENCY_BUCKETS_S, +Inf). */
const AT = Object.fromEntries(NATIVE_STATS.map((name, i) => [name, i])) as Record<NativeStat, number>;
const HISTOGRAM_AT = NATIVE_STATS.length;
const BUCKETS = LATENCY_BUCKETS_S.length + 1;

export class NativeLineServer {
  private readonly handle: ServerHandle;
  private draining: Promise<void> | null = null;

  constructor(
    private readonly addon: LineFastAddon,
    settings: Settings,
    log: Logger,
  ) {
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
        lineTimeoutMs: Math.max(1, Math.round(settings.lineTimeout * 1000)),
        bufferLimit: settings.lineBufferLimit,
      },
      onUnicode,
    );
    const setBudget = addon.setBudget;
    this.budget = setBudget ? (total, onReached) => setBudget.call(addon, this.handle, total, onReached) : null;
    // An addon built from other sources (a stale build/) would misreport: refuse it at boot.
    const n = addon.stats(this.handle).length;
    if (n !== HISTOGRAM_AT + BUCKETS) throw new Error(`line-fast: stats() gives ${n} values, expected ${HISTOGRAM_AT + BUCKETS}: rebuild the addon (npm ci)`);
  }

  /**
   * Accepts on an inherited (or test) listening fd; listen(2) again with `backlog`. Returns the
   * listener's index among this server's, for counters(index).
   */
  listen(fd: number, backlog: number): number {
    return this.addon.listen(this.handle, fd, backlog);
  }

  /**
   * The request limit kept in C (ProtocolStats.external's budget): the thread that answers counts
   * every listener's answers and wakes the main thread the moment they reach the budget, so the
   * ask comes at the limit, not at the next read of the counters. Null when the addon predates it.
   */
  readonly budget: NativeBudget | null;

  /** Stops accepting at once; resolves once every open connection is finished. */
  drain(): Promise<void> {
    this.draining ??= new Promise<void>((resolve) => this.addon.drain(this.handle, resolve));
    return this.draining;
  }

  /**
   * Counters kept in C and read here, never per request: the per-worker stats (sent with every
   * beat) read each native listener's once a beat (ProtocolStats.external). `listener`: an index
   * listen() returned; omitted: every listener of this server together.
   *
   * Latency: C measures accept to answer with CLOCK_MONOTONIC for a connection that waited for its
   * line; one answered on its first read (its line was there at accept, the usual case with
   * TCP_DEFER_ACCEPT) counts as 0 s, in the first bucket: the JavaScript path measures the same
   * span (from the 'connection' event), which for such a line is a few microseconds.
   */
  counters(listener?: number): NativeLineCounters {
    const v = this.addon.stats(this.handle, listener);
    return {
      accepted: v[AT.accepted]!,
      answered: v[AT.answered]!,
      errors: v[AT.errors]!,
      open: v[AT.open]!,
      timeouts: v[AT.timeouts]!,
      busy: v[AT.busy]!,
      latency: { sum: v[AT.latencySumUs]! / 1e6, buckets: v.slice(HISTOGRAM_AT) },
    };
  }
}

/** Tests: a listening socket on 127.0.0.1 (port 0) as a bare fd, for NativeLineServer.listen. */
export function listenLoopbackFd(): { fd: number; port: number } | null {
  const a = loadLineFast();
  if (!a) return null;
  const [fd, port] = a.listenLoopback();
  return { fd, port };
}
