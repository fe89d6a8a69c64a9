// Zero-code mode: an app's own server, once it takes a RAAS listener (listen-router.ts), is served
// like RAAS's: its connections are counted and closed by the drain's idle sweep, its requests
// are counted (the stats by status class, in-flight, max-requests) and written to the access log,
// its upgrades (WebSocket handshakes) are counted as such, and its responses close their
// connection when it drains or the master's shed lets them go (shed.ts), all through the
// server's own events: no prototype is patched here.
// Runs in: workers.

import type * as http from 'node:http';
import type * as net from 'node:net';
import type { ProtocolStats } from '../types.js';
import type { AccessLog } from './access-log.js';
import type { IdleCloser } from './idle-closer.js';
import { serve, type KeepAliveShed } from './shed.js';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** What one worker's HTTP protocol gives every app server it serves. */
export interface AppServing {
  idle: IdleCloser;
  shed: KeepAliveShed;
  stats: ProtocolStats;
  count: (listener: number, res: http.ServerResponse) => void;
  accessLog: AccessLog | null;
}

export function serveAppServer(server: net.Server, serving: AppServing, listener: number): void {
  const { idle, shed, stats, count, accessLog } = serving;
  // On a TLS server the HTTP connection is the TLSSocket ('secureConnection'), not the TCP one.
  // Only a tls.Server (https.Server included) has setSecureContext(); asking that instead of
  // `instanceof tls.Server` keeps node:tls unloaded in a worker whose app serves no TLS.
  const secure = typeof (server as net.Server & { setSecureContext?: unknown }).setSecureContext === 'function';
  const connection = secure ? 'secureConnection' : 'connection';
  idle.watch(server, connection);
  server.on(connection, () => stats.accepted(listener));
  stats.setServer?.(listener, server);
  const served = serve(server, shed);
  // Prepended, at the server's first listen(): it runs before the app's own 'request' listener
  // (added when the app created the server), so the mark is on the response before the app can
  // write its head. One listener does all the jobs: the request path pays one call more.
  // Counted on the response's 'close' (request-stats.ts): where the count stands is moot.
  const onRequest: Handler =
    accessLog === null
      ? (_req, res) => {
          served.closeAfter(res);
          count(listener, res);
        }
      : (req, res) => {
          served.closeAfter(res);
          count(listener, res);
          accessLog.track(req, res);
        };
  server.prependListener('request', onRequest as (...args: unknown[]) => void);
  // A request with `Expect: 100-continue` goes to 'checkContinue' instead when the app listens
  // for that event, and an upgrade request to 'upgrade' when the app listens for that one (node
  // asks listenerCount('upgrade') per request; without one it is an ordinary request, counted
  // above). Ours stand there only while one of the app's does: alone, ours would turn off node's
  // automatic "100 Continue" (and hang the client), or take upgrade requests away from the app's
  // 'request' handler.
  follow(server, 'checkContinue', ((req, res) => {
    served.closeAfter(res);
    count(listener, res);
    accessLog?.track(req, res);
  }) as Handler);
  follow(server, 'upgrade', () => stats.upgraded?.(listener));
}

/** Keeps `ours` prepended on `event` exactly while the app has a listener of its own there. */
function follow(server: net.Server, event: 'checkContinue' | 'upgrade', ours: (...args: never[]) => void): void {
  const mine = ours as (...args: unknown[]) => void;
  let following = false;
  const update = (): void => {
    const apps = server.listeners(event).filter((l) => l !== mine).length;
    if (apps > 0 && !following) {
      following = true;
      server.prependListener(event, mine);
    } else if (apps === 0 && following) {
      following = false;
      server.removeListener(event, mine);
    }
  };
  update();
  // 'newListener' comes before the listener is added, 'removeListener' after it is gone.
  server.on('newListener', (e: string | symbol, l: unknown) => {
    if (e === event && l !== mine && !following) {
      following = true;
      server.prependListener(event, mine);
    }
  });
  server.on('removeListener', (e: string | symbol, l: unknown) => {
    if (e === event && l !== mine) update();
  });
}
