// The line protocol's contract between its two paths, defined once: the replies, the linger and
// the native path's counters that native/line-fast.c (C) and line.ts / line-native.ts (TypeScript)
// share. The latency histogram's buckets are LATENCY_BUCKETS_S of src/ipc.ts (every protocol's).
// native/line-contract.h is generated from this file and those buckets by
// scripts/line-contract.mjs, and committed (node-gyp at `npm ci` needs no generator);
// test/unit/line-contract.test.ts fails when the header is out of date, and runs the same cases
// through both paths, comparing their replies byte for byte.
// Runs in: workers (constants only).

/**
 * How long a socket answered with an error keeps reading (and discarding) what the client is
 * still sending. Closing with unread input makes the kernel send RST instead of FIN, and a
 * client still busy writing could then lose the error reply.
 */
export const LINGER_MS = 2000;

/** Every reply that is not a reversed line, as the client reads it (C: the same names, as macros). */
export const REPLIES = {
  /** The line is over max-line bytes (its "\n" or "\r\n" not counted). */
  ERR_TOO_LONG: 'ERR line too long\n',
  /** The line is not strict UTF-8 (overlong forms, surrogates, truncated sequences). */
  ERR_INVALID_UTF8: 'ERR invalid UTF-8\n',
  /** The line was not complete line-timeout after accept. */
  ERR_LINE_TIMEOUT: 'ERR line timeout\n',
  /** The worker's partial lines hold line-buffer-limit bytes. */
  ERR_SERVER_BUSY: 'ERR server busy\n',
  /** Lame duck: a balancer's health check on a +proxy listener (only the TypeScript path serves those). */
  ERR_DRAINING: 'ERR draining\n',
} as const;

/**
 * The native path's counters, in the order its stats() returns them, then the latency histogram
 * (LATENCY_BUCKETS_S, +Inf). C: STAT_ACCEPTED ... STAT_LATENCY_SUM_US, then STAT_HISTOGRAM, the
 * first bucket's index. `timeouts` and `busy` (ERR line timeout, ERR server busy) become line.ts's
 * rate-limited log events line-timeouts and line-buffer-full.
 */
export const NATIVE_STATS = ['accepted', 'answered', 'errors', 'open', 'timeouts', 'busy', 'latencySumUs'] as const;
export type NativeStat = (typeof NATIVE_STATS)[number];
