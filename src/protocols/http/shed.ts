// Which responses close their connection after them: every one a draining server writes, and
// those of the master's keep-alive rebalancing order (`shed`, src/master/stats/rebalance.ts).
// Runs in: workers.
//
// Each server RAAS serves carries a ServedServer (attached to the server itself): RAAS's own
// servers, whose request handler asks it first (protocol.ts), and in zero-code mode the app's own
// servers, on which app-servers.ts prepends one 'request' listener so it runs before the app's.
// It says "close this connection after this response" on that server's own request path, by
// setting res.shouldKeepAlive = false before anybody writes the head: node then writes
// `Connection: close` and ends the connection once the response is done, for an implicit head as
// for writeHead(). Measured the same with node:http, Express (which swaps each response's
// prototype: an instance property survives that), Fastify and Koa, on Node 20 and 26.
// No Node prototype is changed: a server of the process that RAAS does not serve is left alone.
// (The one process-wide patch is zero-code mode's listen()/close(), see listen-router.ts.)
//
// The request path pays two field reads when nothing is asked (not draining, no order pending);
// an order's decision is O(1) too: the live count is node's own list of the server's connections.

import type * as http from 'node:http';
import type * as net from 'node:net';
import { LOG, type Logger } from '../../log.js';

/** A budget the traffic did not use within this is dropped: the master's next beat decides anew. */
const SHED_WINDOW_MS = 2000;
/**
 * A closed client reconnects wherever the kernel puts it, often back here: shedding a fixed
 * excess moved about half of it (38/14 took three orders and 3.5 s to reach 29/21). So the worker
 * sheds until its own live count is down to the target, up to this many times the excess (a
 * bound on the reconnections one order can cause).
 */
const SHED_BUDGET_FACTOR = 3;
/**
 * One connection let go at a time: clients closed together reconnect together, and a burst is
 * what the busiest worker's loop takes whole again; one by one, each lands on a worker with time
 * to accept it. 20 connections take 0.2 s.
 */
const SHED_SPACING_MS = 10;

/**
 * The master's rebalancing order being carried out, one per worker's HTTP protocol (its servers
 * share it: the order is about the worker's connections). Keep-alive responses answer
 * `Connection: close` while this worker holds more than `target` HTTP connections, at most
 * `pending` of them, until `until`.
 */
export class KeepAliveShed {
  /** Responses still to let go: 0 almost always, the request path's one test. */
  pending = 0;
  private target = 0;
  private until = 0;
  private lastAt = 0;

  constructor(
    /** This worker's open HTTP connections now (upgraded ones left out). */
    private readonly open: () => number,
    private readonly log: Logger,
  ) {}

  /** The master's order: let go of up to `connections`, down to `target` connections. */
  order(connections: number, target: number): void {
    const open = this.open();
    const excess = Math.min(connections, open - target);
    if (excess <= 0) return;
    this.pending = SHED_BUDGET_FACTOR * excess;
    this.target = target;
    this.until = Date.now() + SHED_WINDOW_MS;
    this.log.info(LOG.REBALANCE_SHED, { connections: excess, open, target });
  }

  /** Whether this keep-alive response is one to let go; only asked while `pending` > 0. */
  take(): boolean {
    const now = Date.now();
    if (now > this.until) {
      this.pending = 0;
      return false;
    }
    if (now - this.lastAt < SHED_SPACING_MS) return false;
    // Counted now, this response's connection included: the clients that came back count too.
    if (this.open() <= this.target) {
      this.pending = 0;
      return false;
    }
    this.pending--;
    this.lastAt = now;
    return true;
  }
}

const kServed = Symbol('raas.servedServer');
type WithServed = net.Server & { [kServed]?: ServedServer };

/** What RAAS keeps on one server it serves: whether it drains, and the worker's shed order. */
export class ServedServer {
  private draining = false;

  constructor(private readonly shed: KeepAliveShed) {}

  /**
   * Called for each response before its handler runs: marks it to close its connection when the
   * server drains or the shed lets this one go.
   */
  closeAfter(res: http.ServerResponse): void {
    // Not keep-alive already (HTTP/1.0, `Connection: close`, keep-alive-timeout 0), or not node's
    // HTTP/1 response at all (an http2 app server): nothing to close, no budget spent.
    if (res.shouldKeepAlive !== true) return;
    if (this.draining || (this.shed.pending > 0 && this.shed.take())) res.shouldKeepAlive = false;
  }

  /**
   * The drain begins: every later response says close, and so does each one already in flight
   * whose head has not gone out yet (`inFlight`: the response of each open connection).
   */
  drain(inFlight: Iterable<http.ServerResponse>): void {
    this.draining = true;
    for (const res of inFlight) if (!res.headersSent) res.shouldKeepAlive = false;
  }
}

/** Attaches a ServedServer to `server` (once) and returns it. */
export function serve(server: net.Server, shed: KeepAliveShed): ServedServer {
  const s = server as WithServed;
  s[kServed] ??= new ServedServer(shed);
  return s[kServed];
}

/** The ServedServer of a server RAAS serves, or undefined. */
export function servedServer(server: net.Server): ServedServer | undefined {
  return (server as WithServed)[kServed];
}
