// The HTTP protocol's front door: the factories the worker runtime calls for http:// and https://
// listeners, and the wiring of one worker's HTTP protocol (protocol.ts) from its modules: the app
// (app.ts) and, in zero-code mode, the listen() router (listen-router.ts) with the app's own
// servers (app-servers.ts); the access log, the idle closer and the rebalancing shed (shed.ts).
// Runs in: workers.

import { LOG } from '../../log.js';
import type { Settings } from '../../config/settings.js';
import { readTlsFiles } from '../../config/tls-files.js';
import { NO_STATS, type ProtocolContext, type ProtocolFactory } from '../types.js';
import { requestCounter } from './request-stats.js';
import { AccessLog } from './access-log.js';
import { IdleCloser } from './idle-closer.js';
import { importApp, recogniseApp, type LoadedApp, type SelfServingApp } from './app.js';
import { ListenRouter } from './listen-router.js';
import { clientAddressResolver } from './forwarded.js';
import { KeepAliveShed } from './shed.js';
import { serveAppServer } from './app-servers.js';
import { HttpProtocol } from './protocol.js';

/**
 * One HTTP protocol per worker serves its http:// and https:// listeners alike. The runtime asks
 * for each protocol name with the same settings object, which keys the worker's instance (unit
 * tests, with a fresh settings object per protocol, get one each).
 */
const perWorker = new WeakMap<Settings, Promise<HttpProtocol>>();

function sharedHttpProtocol(ctx: ProtocolContext): Promise<HttpProtocol> {
  let protocol = perWorker.get(ctx.settings);
  if (protocol === undefined) {
    protocol = newHttpProtocol(ctx);
    perWorker.set(ctx.settings, protocol);
  }
  return protocol;
}

export const createHttpProtocol: ProtocolFactory = (ctx) => sharedHttpProtocol(ctx);

/** https:// listeners: TLS terminated by RAAS with tls-cert and tls-key (export mode, built-ins). */
export const createHttpsProtocol: ProtocolFactory = async (ctx) => (await sharedHttpProtocol(ctx)).secureFacet();

/** Loads the app module (if any) and opens the access log (if any) before any server exists. */
async function newHttpProtocol(ctx: ProtocolContext): Promise<HttpProtocol> {
  const { settings } = ctx;
  let app: LoadedApp | SelfServingApp | null = null;
  let router: ListenRouter | null = null;
  const idle = new IdleCloser();
  const shed = new KeepAliveShed(() => idle.httpConnections(), ctx.log);
  // Opened first: in zero-code mode the app's servers are served (access log included) from their
  // first listen(), which may run while the app module loads.
  const accessLog =
    settings.accessLog !== null
      ? new AccessLog(settings.accessLog, settings.accessLogFormat, ctx.log, clientAddressResolver(settings.trustProxy))
      : null;
  if (settings.app !== null) {
    // The app's own listen() calls may run while it loads, so the router goes first.
    if (ctx.listeners !== undefined) {
      const listeners = ctx.listeners;
      const stats = ctx.stats ?? NO_STATS;
      const serving = { idle, shed, stats, count: requestCounter(stats), accessLog };
      const app = settings.app;
      router = new ListenRouter(
        listeners,
        settings.backlog,
        (server, listener) => serveAppServer(server, serving, listeners.indexOf(listener)),
        // RAAS says so itself, at once: the app may swallow its server's 'error' (or crash on it).
        (asked, why) => ctx.log.error(LOG.APP_LISTEN_REFUSED, { app, asked, listen: listeners.map((l) => l.address).join(' '), why }),
      );
      router.install();
      const port = router.portEnv();
      if (port !== null) process.env.PORT = port;
    }
    const mod = await importApp(settings.app);
    app = await recogniseApp(settings.app, mod, (router?.taken ?? 0) > 0);
    if (app.kind === 'self') {
      if (router === null) throw new Error(`${settings.app}: the module exports no app (no default export)`);
      ctx.log.info(LOG.APP_SELF_SERVING, { app: settings.app });
    } else {
      router?.refuse(
        'RAAS already serves this listener with the module\'s default export (export mode); ' +
          'a module that calls listen() itself should export no default',
      );
    }
  }
  if (ctx.listeners?.some((l) => l.protocol === 'https') && (app === null || app.kind !== 'self')) {
    readTlsFiles(settings); // fail the boot now, with the setting's name, not at the first listen
  }
  return new HttpProtocol(ctx, app, accessLog, router, idle, shed);
}
