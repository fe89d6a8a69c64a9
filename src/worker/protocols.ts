// Which Protocol implementation serves a listener of each kind. Each is imported on first use:
// a worker serving only the line protocol never loads node:http (a few MiB of RSS).
// Runs in: workers. (The master only carries the protocol name; it never imports this.)

import type { ProtocolFactory } from '../protocols/types.js';

const FACTORIES: Record<string, ProtocolFactory> = {
  line: async (ctx) => (await import('../protocols/line.js')).createLineProtocol(ctx),
  http: async (ctx) => (await import('../protocols/http/index.js')).createHttpProtocol(ctx),
};

export function protocolFactory(name: string): ProtocolFactory {
  const factory = FACTORIES[name];
  if (!factory) throw new Error(`unknown protocol "${name}"`);
  return factory;
}
