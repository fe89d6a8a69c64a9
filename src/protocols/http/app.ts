// Loads the user's `app` module and turns its default export into one Node request listener:
// a `(req, res)` listener (Express, a plain function), an object with `fetch(request)` (Hono and
// other WHATWG-style apps), a Fastify instance, a Koa app, or an async factory returning one of
// these; plus its optional hooks (workerStart, workerDrain, workerStop) and `upgrade` handler.
// A module with no default export is a zero-code app: it starts its own server (listen-router.ts).
// Runs in: workers (each worker imports the app once, before its servers exist).

import type * as http from 'node:http';
import type * as net from 'node:net';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { fetchListener, type FetchApp } from './fetch-adapter.js';

export type Listener = (req: http.IncomingMessage, res: http.ServerResponse) => unknown;
export type UpgradeHandler = (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => unknown;
/** What workerStart receives: which worker this is. */
export interface WorkerInfo {
  slot: number;
  generation: number;
}
type Hook = (info?: WorkerInfo) => unknown;

export type AppKind = 'listener' | 'fetch' | 'fastify' | 'koa';

export interface AppHooks {
  workerStart: Hook | null;
  /** Awaited when the worker starts draining: the app closes its WebSockets (1001), SSE streams. */
  workerDrain: Hook | null;
  workerStop: Hook | null;
}

export interface LoadedApp extends AppHooks {
  listener: Listener;
  /** Which kind of default export the module had (for logs and tests). */
  kind: AppKind;
  /** The module's `upgrade(req, socket, head)` export: WebSockets and other upgrades. */
  upgrade: UpgradeHandler | null;
}

/** A module that exports no app: it listens by itself (zero-code mode); hooks still apply. */
export interface SelfServingApp extends AppHooks {
  kind: 'self';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null;
}

function hasFetch(value: unknown): value is FetchApp {
  return isObject(value) && typeof value.fetch === 'function';
}

type FastifyLike = { routing: Listener; ready(): PromiseLike<unknown>; server: unknown };
type KoaLike = { callback(): Listener; use(...args: unknown[]): unknown };

function isFastify(value: unknown): value is FastifyLike {
  return isObject(value) && typeof value.routing === 'function' && typeof value.ready === 'function' && 'server' in value;
}

function isKoa(value: unknown): value is KoaLike {
  return isObject(value) && typeof value.callback === 'function' && typeof value.use === 'function';
}

/** An async function that declares no parameters: a factory, not a `(req, res)` listener. */
function isFactory(value: unknown): value is () => Promise<unknown> {
  return typeof value === 'function' && value.length === 0 && value.constructor?.name === 'AsyncFunction';
}

/** Nothing exported: ESM without a default, or CommonJS that assigned nothing to module.exports. */
function isNothing(value: unknown): boolean {
  if (value === undefined) return true;
  if (typeof value !== 'object' || value === null) return false;
  return Object.getPrototypeOf(value) === Object.prototype && Object.keys(value).length === 0;
}

/** A function named `name`: a named export first, else a method of the default export. */
function exported<T extends (...args: never[]) => unknown>(mod: Record<string, unknown>, app: unknown, name: string): T | null {
  const named = mod[name];
  if (typeof named === 'function') return named as T;
  if (isObject(app) && typeof app[name] === 'function' && !isKoa(app) && !isFastify(app)) {
    const fn = app[name] as (...args: unknown[]) => unknown;
    return ((...args: unknown[]) => fn.apply(app, args)) as unknown as T;
  }
  return null;
}

export async function importApp(file: string): Promise<Record<string, unknown>> {
  return (await import(pathToFileURL(path.resolve(file)).href)) as Record<string, unknown>;
}

/**
 * Recognises the module's default export. `selfServing`: the module already called listen() on a
 * RAAS listener while it loaded, so it is a zero-code app whatever else it exports.
 */
export async function recogniseApp(
  file: string,
  mod: Record<string, unknown>,
  selfServing = false,
): Promise<LoadedApp | SelfServingApp> {
  let app: unknown = mod.default;
  // A CommonJS module compiled from ESM (`exports.default = app`, `__esModule`) arrives as
  // { default: { default: app } }: unwrap once. A function is never unwrapped (Express apps are
  // functions that carry many properties).
  if (isObject(app) && typeof app !== 'function' && !hasFetch(app) && 'default' in app) {
    app = app.default;
  }
  const hooksOf = (source: unknown): AppHooks => ({
    workerStart: exported<Hook>(mod, source, 'workerStart'),
    workerDrain: exported<Hook>(mod, source, 'workerDrain'),
    workerStop: exported<Hook>(mod, source, 'workerStop'),
  });
  if (selfServing || isNothing(app)) return { kind: 'self', ...hooksOf(undefined) };
  if (isFactory(app)) app = await app();

  let listener: Listener;
  let kind: AppKind;
  if (typeof app === 'function') {
    listener = app as Listener;
    kind = 'listener';
  } else if (hasFetch(app)) {
    listener = fetchListener(app);
    kind = 'fetch';
  } else if (isFastify(app)) {
    await app.ready(); // plugins and routes registered: routing() may serve now
    listener = app.routing.bind(app);
    kind = 'fastify';
  } else if (isKoa(app)) {
    listener = app.callback();
    kind = 'koa';
  } else {
    throw new Error(
      `${file}: the default export must be a (req, res) request listener, an object with a ` +
        `fetch(request) method, a Fastify instance, a Koa app or an async factory returning one, ` +
        `or nothing at all (an app that calls listen() itself); got ${app === null ? 'null' : typeof app}`,
    );
  }
  return { listener, kind, upgrade: exported<UpgradeHandler>(mod, app, 'upgrade'), ...hooksOf(app) };
}

/** Export mode only (the unit tests' entry point): imports and recognises, refusing a self-serving module. */
export async function loadApp(file: string): Promise<LoadedApp> {
  const app = await recogniseApp(file, await importApp(file));
  if (app.kind === 'self') {
    throw new Error(`${file}: the module exports no app (no default export); export a request listener or a fetch app`);
  }
  return app;
}
