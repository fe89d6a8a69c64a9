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

export interface ServerOptions {
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
