// Loads the user's `app` module and turns its default export into one Node request listener:
// either a `(req, res)` listener (Express, Koa's app.callback(), a plain function) or an object
// with `fetch(request)` (Hono and other WHATWG-style apps), plus its optional lifecycle hooks.
// Runs in: workers (each worker imports the app once, before its servers exist).

import type * as http from 'node:http';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { fetchListener, type FetchApp } from './fetch-adapter.js';

export type Listener = (req: http.IncomingMessage, res: http.ServerResponse) => unknown;
type Hook = () => unknown;

export interface LoadedApp {
  listener: Listener;
  /** 'listener' or 'fetch': which kind of default export the module had (for logs and tests). */
  kind: 'listener' | 'fetch';
  workerStart: Hook | null;
  workerStop: Hook | null;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null;
}

function hasFetch(value: unknown): value is FetchApp {
  return isObject(value) && typeof value.fetch === 'function';
}

/** A hook named `name`: a named export first, else a method of the default export. */
function hook(mod: Record<string, unknown>, app: unknown, name: string): Hook | null {
  const named = mod[name];
  if (typeof named === 'function') return named as Hook;
  if (isObject(app) && typeof app[name] === 'function') {
    const fn = app[name] as Hook;
    return () => fn.call(app);
  }
  return null;
}

export async function loadApp(file: string): Promise<LoadedApp> {
  const mod = (await import(pathToFileURL(path.resolve(file)).href)) as Record<string, unknown>;
  let app: unknown = mod.default;
  // A CommonJS module compiled from ESM (`exports.default = app`, `__esModule`) arrives as
  // { default: { default: app } }: unwrap once. A function is never unwrapped (Express apps are
  // functions that carry many properties).
  if (isObject(app) && typeof app !== 'function' && !hasFetch(app) && 'default' in app) {
    app = app.default;
  }

  let listener: Listener;
  let kind: LoadedApp['kind'];
  if (typeof app === 'function') {
    listener = app as Listener;
    kind = 'listener';
  } else if (hasFetch(app)) {
    listener = fetchListener(app);
    kind = 'fetch';
  } else {
    throw new Error(
      `${file}: the default export must be a (req, res) request listener or an object with a ` +
        `fetch(request) method, got ${app === null ? 'null' : typeof app}`,
    );
  }
  return { listener, kind, workerStart: hook(mod, app, 'workerStart'), workerStop: hook(mod, app, 'workerStop') };
}
