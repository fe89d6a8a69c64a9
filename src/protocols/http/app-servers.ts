// Zero-code mode: an app's own server, once it takes a RAAS listener (listen-router.ts), is served
// like RAAS's: its connections are counted and closed by the drain's idle sweep, its requests
// are counted (the stats, and max-requests), and its responses close their connection when it
// drains or the master's shed lets them go (shed.ts), all through the server's own events.
// Runs in: workers.

import type * as http from 'node:http';
import type * as net from 'node:net';
import type { ProtocolStats } from '../types.js';
import type { IdleCloser } from './idle-closer.js';
import { serve, type KeepAliveShed } from './shed.js';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export function serveAppServer(
  server: net.Server,
  idle: IdleCloser,
  shed: KeepAliveShed,
  stats: ProtocolStats,
  count: (listener: number, res: http.ServerResponse) => void,
  listener: number,
): void {
  // On a TLS server the HTTP connection is the TLSSocket ('secureConnection'), not the TCP one.
  // Only a tls.Server (https.Server included) has setSecureContext(); asking that instead of
  // `instanceof tls.Server` keeps node:tls unloaded in a worker whose app serves no TLS.
  const secure = typeof (server as net.Server & { setSecureContext?: unknown }).setSecureContext === 'function';
  const connection = secure ? 'secureConnection' : 'connection';
  idle.watch(server, connection);
  server.on(connection, () => stats.accepted(listener));
  const served = serve(server, shed);
  // Prepended, at the server's first listen(): it runs before the app's own 'request' listener
  // (added when the app created the server), so the mark is on the response before the app can
  // write its head. One listener does both jobs: the request path pays no more than it did.
  // Counted on the response's 'close' (request-stats.ts): where the count stands is moot.
  server.prependListener('request', ((_req, res) => {
    served.closeAfter(res);
    count(listener, res);
  }) as Handler);
  // A request with `Expect: 100-continue` goes to 'checkContinue' instead when the app listens
  // for that event. Ours stands there only while one of the app's does: alone, it would turn off
  // node's automatic "100 Continue" (and hang the client).
  const onContinue: Handler = (_req, res) => served.closeAfter(res);
  let following = false;
  const follow = (): void => {
    const apps = server.listeners('checkContinue').filter((l) => l !== onContinue).length;
    if (apps > 0 && !following) {
      following = true;
      server.prependListener('checkContinue', onContinue);
    } else if (apps === 0 && following) {
      following = false;
      server.removeListener('checkContinue', onContinue);
    }
  };
  follow();
  // 'newListener' comes before the listener is added, 'removeListener' after it is gone.
  server.on('newListener', (event: string | symbol, l: unknown) => {
    if (event === 'checkContinue' && l !== onContinue && !following) {
      following = true;
      server.prependListener('checkContinue', onContinue);
    }
  });
  server.on('removeListener', (event: string | symbol, l: unknown) => {
    if (event === 'checkContinue' && l !== onContinue) follow();
  });
}
