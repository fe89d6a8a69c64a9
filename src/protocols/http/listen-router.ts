// Zero-code mode: an app that creates its own server and calls listen() itself (Express's
// app.listen(3000), http.createServer(h).listen(process.env.PORT), Fastify, Koa, NestJS, Next.js,
// https.createServer) gets the RAAS listener's inherited socket instead of binding a port, as
// Node's cluster does for its workers.
// Runs in: workers (installed before the app module is imported).
//
// net.Server.prototype.listen (and close, below) is patched once per worker, in zero-code mode
// only: the one place RAAS changes a Node prototype, and documented as such (docs/DESIGN.md),
// because an app's listen() call is the only place its servers can be found. Everything else
// RAAS does to a server it serves goes through that server's own events (app-servers.ts,
// shed.ts), never a prototype.
//
// A listen() on a port or a Unix path that a RAAS http(s) listener has becomes
// listen({ fd }, backlog): the socket the master bound,
// with RAAS's backlog (positional: `{ fd, backlog }` is ignored by Node). Port 0 and no port at
// all take the first listener not yet taken, so `listen(process.env.PORT)` works with or without
// PORT. The host an app passes is ignored: the operator chose the address with --listen.
// Anything else (a port RAAS does not listen on) fails like a failed bind: the server emits
// 'error', with a message naming --listen, and RAAS logs the refusal itself (app-listen-refused)
// at once, since an app may swallow that error or die of it. listen({ fd }) and listen(handle) pass through
// untouched: that is how RAAS itself listens in export mode.
//
// The app's server owns a duplicate of the inherited fd (fdutil's dupCloexec), never the fd
// itself: closing the server (server.close(), also patched) closes only the duplicate and hands
// the listener back, so a later listen() takes it again with a fresh duplicate (the close and
// listen-again pattern). Without the addon the app gets the inherited fd, and a listener it
// closes is gone for this worker. Either way, once the worker is ready, a listener left without
// a server for `boot-timeout` is reported (watchAppListeners): the worker asks to be replaced.

import { loadAddon } from '../../native.js';
import * as net from 'node:net';
import * as path from 'node:path';
import { parseListenAddress, type ListenAddress } from '../../config/listen-address.js';
import type { WorkerListener } from '../../ipc.js';
import { errorMessage } from '../../errors.js';

/** A RAAS listener the app may take, and the server that took it. */
interface Slot {
  listener: WorkerListener;
  /** Null for a socket whose address RAAS does not know (systemd's `http://systemd-fd-N`). */
  address: ListenAddress | null;
  server: net.Server | null;
  listening: Promise<net.Server>;
  resolve: (server: net.Server) => void;
  /**
   * The app's server was given the inherited fd itself (no fdutil addon to duplicate it): once
   * that server closes, the fd is closed and no later listen() can have it.
   */
  spent: boolean;
  /** Runs while the slot has no server, once the worker watches (watchAppListeners). */
  lostTimer: NodeJS.Timeout | null;
  /** Since when the slot has had no listening server (Date.now()). */
  freeSince: number;
}

/** What the worker does about a listener the app left (see watchAppListeners). */
export interface AppListenerWatch {
  /** How long a listener may stay without a server: boot-timeout. */
  afterMs: number;
  /** Called once per listener left that long; the worker asks to be replaced. */
  lost(listener: WorkerListener, freeForMs: number): void;
}

/** The worker's router (one per worker), for watchAppListeners. */
let installed: ListenRouter | null = null;

/**
 * From the moment the worker is ready (src/worker/runtime.ts): a listener the app's servers have
 * left for `afterMs` is reported to `watch.lost`. Null stops watching (the worker drains).
 */
export function watchAppListeners(watch: AppListenerWatch | null): void {
  installed?.watch(watch);
}

type DupCloexec = (fd: number) => number;
let dupCloexec: DupCloexec | null | undefined;

/** fdutil's dupCloexec (native/fdutil.c), or null when the addon was not built. */
function loadDup(): DupCloexec | null {
  if (dupCloexec === undefined) {
    const dup = loadAddon<{ dupCloexec?: DupCloexec }>('fdutil')?.dupCloexec;
    dupCloexec = typeof dup === 'function' ? dup : null;
  }
  return dupCloexec;
}

/** What one listen() call asked for, in Node's own terms. */
type Wanted = { kind: 'pass' } | { kind: 'port'; port: number } | { kind: 'path'; path: string };

type ListenFn = (this: net.Server, ...args: unknown[]) => net.Server;

export class ListenRouter {
  private readonly slots: Slot[];
  private readonly others: ListenAddress[];
  private refusal: string | null = null;
  private original: ListenFn | null = null;
  private originalClose: ((this: net.Server, ...args: unknown[]) => net.Server) | null = null;
  private watching: AppListenerWatch | null = null;
  /** Servers already handed to onTaken: one that listens again is not tracked (counted) twice. */
  private readonly tracked = new WeakSet<net.Server>();

  /** `listeners`: every listener of the worker; the app may take the http:// and https:// ones. */
  constructor(
    listeners: readonly WorkerListener[],
    private readonly backlog: number,
    /** Once per server, at its first listen() on a listener. */
    private readonly onTaken: (server: net.Server, listener: WorkerListener) => void,
    /** Each listen() refused (`asked`: "port 8080" or the path), before the server's 'error'. */
    private readonly onRefused: (asked: string, why: string) => void = () => {},
  ) {
    this.slots = [];
    this.others = [];
    for (const listener of listeners) {
      const address = addressOf(listener);
      if (listener.protocol !== 'http' && listener.protocol !== 'https') {
        if (address !== null) this.others.push(address);
        continue;
      }
      let resolve!: (server: net.Server) => void;
      const listening = new Promise<net.Server>((r) => (resolve = r));
      this.slots.push({ listener, address, server: null, listening, resolve, spent: false, lostTimer: null, freeSince: Date.now() });
    }
  }

  /** The value of PORT for the app: the first HTTP listener's port (or socket path). */
  portEnv(): string | null {
    const first = this.slots[0]?.address;
    if (first === undefined || first === null) return null;
    return first.kind === 'tcp' ? String(first.port) : first.path;
  }

  /** Number of listeners the app has taken so far (and not given back). */
  get taken(): number {
    return this.slots.filter((s) => s.server !== null).length;
  }

  /** The addresses of the http(s) listeners the app has not taken (or has given back). */
  get waiting(): string[] {
    return this.slots.filter((s) => this.isFree(s)).map((s) => s.listener.address);
  }

  /** The addresses of every http(s) listener the app is expected to take. */
  get expected(): string[] {
    return this.slots.map((s) => s.listener.address);
  }

  /** The app's servers that hold a RAAS listener now. */
  get servers(): net.Server[] {
    return this.slots.flatMap((s) => (s.server === null ? [] : [s.server]));
  }

  /** A slot whose server closed (or never listened after all: its listen failed) is free again. */
  private isFree(slot: Slot): boolean {
    if (slot.server !== null && !slot.server.listening) this.release(slot);
    return slot.server === null;
  }

  /** The app's server of `slot` stopped listening: the listener is free; watched if the worker is. */
  private release(slot: Slot): void {
    slot.server = null;
    slot.freeSince = Date.now();
    this.startWatch(slot);
  }

  /** See watchAppListeners. */
  watch(watch: AppListenerWatch | null): void {
    this.watching = watch;
    for (const slot of this.slots) {
      if (slot.lostTimer !== null) clearTimeout(slot.lostTimer);
      slot.lostTimer = null;
      if (watch !== null && this.isFree(slot)) this.startWatch(slot);
    }
  }

  private startWatch(slot: Slot): void {
    const watch = this.watching;
    if (watch === null || slot.lostTimer !== null) return;
    const left = Math.max(0, watch.afterMs - (Date.now() - slot.freeSince));
    slot.lostTimer = setTimeout(() => {
      slot.lostTimer = null;
      if (this.watching !== watch || !this.isFree(slot)) return;
      // Timers run on the loop's clock, which can read a millisecond behind Date.now(): a
      // timer that fires early waits again, so the report always comes after the full span.
      const freeFor = Date.now() - slot.freeSince;
      if (freeFor < watch.afterMs) return this.startWatch(slot);
      watch.lost(slot.listener, freeFor);
    }, left);
    slot.lostTimer.unref();
  }

  /** Resolves once the app listens on this listener. */
  whenListening(listener: WorkerListener): Promise<net.Server> | null {
    return this.slots.find((s) => s.listener === listener)?.listening ?? null;
  }

  install(): void {
    if (this.original !== null) return;
    const original = net.Server.prototype.listen as unknown as ListenFn;
    this.original = original;
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const router = this;
    net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
      return router.route(this, original, args);
    } as typeof net.Server.prototype.listen;
    // http(s).Server's close() calls net.Server.prototype.close by name: this one runs for them too.
    const originalClose = net.Server.prototype.close as unknown as (this: net.Server, ...args: unknown[]) => net.Server;
    this.originalClose = originalClose;
    net.Server.prototype.close = function (this: net.Server, ...args: unknown[]) {
      const result = originalClose.apply(this, args);
      // Node closed the handle (and its fd, our duplicate) synchronously: the listener is free
      // now, before 'close' (which waits for the open connections), so that the common
      // `server.close(); server.listen(PORT)` gets it.
      router.closed(this);
      return result;
    } as typeof net.Server.prototype.close;
    installed = this;
  }

  /** One of the app's servers closed: if it held a listener, hand the listener back. */
  private closed(server: net.Server): void {
    const slot = this.slots.find((s) => s.server === server);
    if (slot !== undefined && !server.listening) this.release(slot);
  }

  /** Puts Node's listen() back (tests; a worker keeps the router for its whole life). */
  uninstall(): void {
    if (this.original !== null) net.Server.prototype.listen = this.original as unknown as typeof net.Server.prototype.listen;
    if (this.originalClose !== null) net.Server.prototype.close = this.originalClose as unknown as typeof net.Server.prototype.close;
    this.original = null;
    this.originalClose = null;
    this.watch(null);
    if (installed === this) installed = null;
  }

  /**
   * Export mode: RAAS serves the listeners itself, so a later listen() on them by the app fails
   * with `why` instead of sharing the socket behind RAAS's back.
   */
  refuse(why: string): void {
    this.refusal = why;
  }

  private route(server: net.Server, original: ListenFn, args: unknown[]): net.Server {
    const wanted = parseListenArgs(args);
    // A server that listens already: Node's own ERR_SERVER_ALREADY_LISTEN, not a slot taken.
    if (wanted.kind === 'pass' || server.listening) return original.apply(server, args);
    const callback = typeof args[args.length - 1] === 'function' ? (args[args.length - 1] as () => void) : undefined;
    const asked = wanted.kind === 'port' ? `port ${wanted.port}` : wanted.path;

    const fail = (message: string, code: string): net.Server => {
      this.onRefused(asked, message);
      const err = Object.assign(new Error(`listen(${asked}): ${message}`), { code });
      // Like a failed bind: asynchronous, on the server, never thrown at the caller.
      process.nextTick(() => server.emit('error', err));
      return server;
    };

    if (this.refusal !== null && this.matches(wanted).length > 0) return fail(this.refusal, 'EADDRINUSE');
    const candidates = this.matches(wanted);
    const slot = candidates.find((s) => this.isFree(s) && !s.spent);
    if (slot === undefined) {
      const spent = candidates.find((s) => s.spent && s.server === null);
      if (spent !== undefined) {
        return fail(
          `RAAS's listener ${spent.listener.address} was closed by this worker's app, and it cannot be reopened ` +
            'without the fdutil addon (built at install: npm ci); the worker will be replaced',
          'EADDRINUSE',
        );
      }
      if (candidates.length > 0) {
        return fail(`RAAS's listener ${candidates[0]!.listener.address} is already taken by another server of this worker`, 'EADDRINUSE');
      }
      if (this.others.some((a) => sameTarget(a, wanted))) {
        return fail('that address is a line:// listener of RAAS, not an http:// one', 'EADDRINUSE');
      }
      const have = this.slots.map((s) => s.listener.address).join(', ') || 'no http:// listener';
      return fail(
        `RAAS has no http:// listener there (it has: ${have}); add one with --listen, e.g. --listen http://127.0.0.1:${wanted.kind === 'port' ? wanted.port : 'PORT'}`,
        'EADDRNOTAVAIL',
      );
    }

    const dup = loadDup();
    let fd = slot.listener.fd;
    if (dup !== null) {
      try {
        fd = dup(slot.listener.fd);
      } catch (err) {
        return fail(`cannot duplicate RAAS's listener ${slot.listener.address}: ${errorMessage(err)}`, 'EMFILE');
      }
    } else {
      // The inherited fd itself: a close() of this server closes it for good (see `spent`).
      slot.spent = true;
    }
    if (slot.lostTimer !== null) clearTimeout(slot.lostTimer);
    slot.lostTimer = null;
    slot.server = server;
    server.once('listening', () => slot.resolve(server));
    if (!this.tracked.has(server)) {
      this.tracked.add(server);
      this.onTaken(server, slot.listener);
    }
    // listen() creates the handle synchronously (this process is no cluster worker), so once it
    // returns the server is listening, or will emit 'error' (the slot is then free again, see
    // isFree; a duplicate whose handle could not be made stays open: a rare, bounded leak).
    return callback === undefined
      ? original.call(server, { fd }, this.backlog)
      : original.call(server, { fd }, this.backlog, callback);
  }

  private matches(wanted: Exclude<Wanted, { kind: 'pass' }>): Slot[] {
    // Port 0 (or none): "any port", so any listener (route() takes the first one not yet taken).
    if (wanted.kind === 'port' && wanted.port === 0) return this.slots;
    const exact = this.slots.filter((s) => s.address !== null && sameTarget(s.address, wanted));
    // A socket of unknown address (systemd's) stands for whatever the app asks that no known one is.
    return exact.length > 0 ? exact : this.slots.filter((s) => s.address === null);
  }
}

function addressOf(listener: WorkerListener): ListenAddress | null {
  try {
    return parseListenAddress(listener.address);
  } catch {
    return null;
  }
}

function sameTarget(address: ListenAddress, wanted: Exclude<Wanted, { kind: 'pass' }>): boolean {
  if (wanted.kind === 'port') return address.kind === 'tcp' && address.port === wanted.port;
  return address.kind === 'unix' && address.path === path.resolve(wanted.path);
}

function toPort(value: unknown): number | null {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 65535) return value;
  if (typeof value === 'string' && /^\d{1,5}$/.test(value) && Number(value) <= 65535) return Number(value);
  return null;
}

/**
 * Node's listen() signatures: (port?, host?, backlog?, cb?), (path, backlog?, cb?),
 * (options, cb?), (handle, backlog?, cb?), (cb?). Handles and fds pass through.
 */
export function parseListenArgs(args: readonly unknown[]): Wanted {
  const first = args[0];
  if (typeof first === 'function') return { kind: 'port', port: 0 };
  if (typeof first === 'object' && first !== null) {
    const o = first as Record<string, unknown>;
    if (o.fd !== undefined || o.handle !== undefined || o._handle !== undefined) return { kind: 'pass' };
    if (typeof o.path === 'string' && o.path !== '') return { kind: 'path', path: o.path };
    if (!('port' in o) && !('path' in o)) return { kind: 'pass' }; // a raw handle object
    const port = toPort(o.port);
    return port === null ? { kind: 'pass' } : { kind: 'port', port };
  }
  if (typeof first === 'string' && !/^\d{1,5}$/.test(first) && first !== '') return { kind: 'path', path: first };
  const port = toPort(first);
  // An invalid port: let Node throw its own ERR_SOCKET_BAD_PORT.
  return port === null ? { kind: 'pass' } : { kind: 'port', port };
}
