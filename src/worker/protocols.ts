// Which Protocol implementation serves a listener of each kind, and whether its connections
// start with a PROXY protocol header (`line+proxy`, `http+proxy`). Each protocol is imported on
// first use: a worker serving only the line protocol never loads node:http (a few MiB of RSS).
// Runs in: workers. (The master only carries the protocol name; it never imports this.)

import type { ProtocolFactory } from '../protocols/types.js';

const FACTORIES: Record<string, ProtocolFactory> = {
  line: async (ctx) => (await import('../protocols/line.js')).createLineProtocol(ctx),
  http: async (ctx) => (await import('../protocols/http/index.js')).createHttpProtocol(ctx),
  https: async (ctx) => (await import('../protocols/http/index.js')).createHttpsProtocol(ctx),
};

const PROXY_SUFFIX = '+proxy';

/**
 * `http+proxy` -> { base: 'http', proxyHeader: true }. One protocol instance serves a base name's
 * plain and +proxy listeners alike; the +proxy ones get the header gate, and so always take the
 * JavaScript 'connection' path (a native accept loop would bypass the gate: see ServerOptions).
 */
export function splitProtocol(name: string): { base: string; proxyHeader: boolean } {
  return name.endsWith(PROXY_SUFFIX)
    ? { base: name.slice(0, -PROXY_SUFFIX.length), proxyHeader: true }
    : { base: name, proxyHeader: false };
}

export function protocolFactory(name: string): ProtocolFactory {
  const factory = FACTORIES[splitProtocol(name).base];
  if (!factory) throw new Error(`unknown protocol "${name}"`);
  return factory;
}
