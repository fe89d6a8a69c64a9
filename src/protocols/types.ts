// The contract between the worker runtime and a protocol (line, http). A protocol is created once
// per worker and may serve several listeners; the runtime owns listen(), readiness and exit.
// Runs in: workers.

import type * as net from 'node:net';
import type { Settings } from '../config/settings.js';
import type { Logger } from '../log.js';

export interface ProtocolContext {
  settings: Settings;
  log: Logger;
  slot: number;
}

export interface Protocol {
  /** A new server for one listener. The runtime calls `listen({ fd }, backlog, cb)` on it. */
  createServer(): net.Server;
  /**
   * Optional: serve this inherited listening fd without a net.Server (the native line path),
   * calling listen(2) with `backlog` itself. Returns false to decline: the runtime then uses
   * createServer(). drain() covers what it serves.
   */
  serveFd?(fd: number, backlog: number, address: string): boolean;
  /** Which path serves this protocol's connections ('native' or 'js'), for the ready log line. */
  readonly fastPath?: 'native' | 'js';
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
}

export type ProtocolFactory = (ctx: ProtocolContext) => Protocol | Promise<Protocol>;
