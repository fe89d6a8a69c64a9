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
}

export interface Protocol {
  /** A new server for one listener. The runtime calls `listen({ fd }, backlog, cb)` on it. */
  createServer(): net.Server;
  /**
   * When the protocol's app listens on `listener` by itself (zero-code HTTP apps), a promise that
   * resolves once it does; the runtime then awaits it instead of calling createServer/listen.
   */
  appListens?(listener: WorkerListener): Promise<void> | null;
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
