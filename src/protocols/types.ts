// The contract between the worker runtime and a protocol (line, http). A protocol is created once
// per worker and may serve several listeners; the runtime owns listen(), readiness and exit.
// Runs in: workers.

import type * as net from 'node:net';
import type { Settings } from '../config/settings.js';
import type { WorkerListener } from '../ipc.js';
import type { Logger } from '../log.js';

export interface ProtocolContext {
  settings: Settings;
  log: Logger;
  slot: number;
  /** The worker's generation (workerStart({ slot, generation })); absent in unit tests. */
  generation?: number;
  /** Every listener of the worker, so an app may take its own (zero-code mode); absent in unit tests. */
  listeners?: readonly WorkerListener[];
  /** Where the protocol counts its work (src/worker/stats.ts collects it for the beats); absent: NO_STATS. */
  stats?: ProtocolStats;
}

/**
 * How a protocol reports its work. `listener` is the index the runtime passed to createServer.
 * Every call is a counter increment (answered: plus a histogram bucket): cheap enough for the
 * line protocol's hot path.
 */
export interface ProtocolStats {
  /** A connection was accepted. */
  accepted(listener: number): void;
  /** A request began (HTTP: a request; line: the connection itself). */
  started(listener: number): void;
  /**
   * A started request was answered, after `seconds`; `error`: 5xx or ERR reply. `status`: the
   * HTTP status code (counted by class, 1xx-5xx); the line protocol has none.
   */
  answered(listener: number, seconds: number, error: boolean, status?: number): void;
  /** A started request ended without an answer (the client left, a timeout, a handler error). */
  abandoned(listener: number): void;
  /** HTTP: a request handed to an 'upgrade' handler (a WebSocket handshake): counted as such, not as a request. */
  upgraded?(listener: number): void;
  /**
   * The net.Server that serves listener `listener` (zero-code mode: the app's own, once it
   * listens): its open connections are read at each beat.
   */
  setServer?(listener: number, server: net.Server): void;
  /**
   * The listener is served outside JavaScript (Protocol.serveFd: the native line path), which
   * keeps its own cumulative counts: `read` is called once a beat instead of a call per request.
   */
  external?(listener: number, read: () => ExternalCounts, budget?: NativeBudget): void;
}

/**
 * A native server's request budget (the line path's setBudget), the same function for every
 * listener of that server: `onReached(answered)` once, when the answers of all its listeners since
 * the worker started reach `total`, with the exact total then; called again, it moves the budget
 * (onReached omitted: the one given before stands).
 */
export type NativeBudget = (total: number, onReached?: (answered: number) => void) => void;

/** Cumulative counts kept by a native server for one listener (see ProtocolStats.external). */
export interface ExternalCounts {
  accepted: number;
  /** Answers, ERR replies included. */
  answered: number;
  /** ERR replies, resets mid-line, failed handlers. */
  errors: number;
  /** Connections open now (a gauge). */
  open: number;
  /** Accept-to-answer latency in the LATENCY_BUCKETS_S buckets (+Inf last), sum in seconds. */
  latency: { buckets: number[]; sum: number };
}

/** What the runtime tells a protocol about the listener a new server is for. */
export interface ServerOptions {
  /** The listener's index, to pass to ctx.stats (0 when omitted). */
  listener?: number;
  /** An https:// listener (HTTP only): TLS with the tls-cert/tls-key files. */
  secure?: boolean;
  /**
   * The listener is `+proxy`: the runtime puts the PROXY header gate (proxy-listener.ts) in front
   * of the server's 'connection' listeners. Such a server must serve every connection through
   * net.Server's 'connection' event, in JavaScript: no native fast path may accept on it.
   */
  proxyHeader?: boolean;
}

export interface Protocol {
  /** A new server for one listener. The runtime calls `listen({ fd }, backlog, cb)` on it. */
  createServer(options?: ServerOptions): net.Server;
  /**
   * When the protocol's app listens on `listener` by itself (zero-code HTTP apps), a promise that
   * resolves once it does; the runtime then awaits it instead of calling createServer/listen.
   */
  appListens?(listener: WorkerListener): Promise<void> | null;
  /**
   * Optional: serve this inherited listening fd without a net.Server (the native line path),
   * calling listen(2) with `backlog` itself. Returns false to decline (always for a `proxyHeader`
   * listener: the PROXY gate needs net.Server's 'connection' event): the runtime then uses
   * createServer(). What it serves counts through ctx.stats.external; drain() covers it.
   */
  serveFd?(fd: number, backlog: number, options: ServerOptions): boolean;
  /** Which path serves this protocol's plain listeners ('native' or 'js'), for the ready log line. */
  readonly fastPath?: 'native' | 'js';
  /**
   * The master's rebalancing (master/stats/rebalance.ts): let up to `connections` long-lived connections
   * go gracefully, keeping at least `target` open (HTTP: `Connection: close` on that many
   * keep-alive responses). Protocols without long-lived connections leave it out.
   */
  shed?(connections: number, target: number): void;
  /** Awaited after every server listens and before the worker reports ready (app hooks). */
  start?(): Promise<void>;
  /**
   * Stop accepting on every server this protocol created and finish in-flight work
   * (HTTP: answer `Connection: close`, close idle keep-alive connections, /healthz turns 503).
   * Resolves once no connection remains. The master enforces the deadline, not the protocol.
   */
  drain(): Promise<void>;
  /** Awaited after drain, before the worker exits 0 (app hooks). */
  stop?(): Promise<void>;
  /** USR1: reopen any file the protocol writes (the access log). */
  reopenLogs?(): void;
  /**
   * Lame duck (the `lame-duck` setting, before a graceful stop): keep serving, but tell health
   * checks this instance is going away (HTTP: /healthz answers 503). Never undone: a stop follows.
   */
  lameDuck?(): void;
}

export type ProtocolFactory = (ctx: ProtocolContext) => Protocol | Promise<Protocol>;

/** Counts nothing: for a protocol created without a runtime (unit tests). */
export const NO_STATS: ProtocolStats = {
  accepted() {},
  started() {},
  answered() {},
  abandoned() {},
};
