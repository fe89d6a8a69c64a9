// Which Protocol implementation serves a listener of each kind.
// Runs in: workers. (The master only carries the protocol name; it never imports this.)

import { createHttpProtocol, createHttpsProtocol } from '../protocols/http/index.js';
import { createLineProtocol } from '../protocols/line.js';
import type { ProtocolFactory } from '../protocols/types.js';

const FACTORIES: Record<string, ProtocolFactory> = {
  line: createLineProtocol,
  http: createHttpProtocol,
  https: createHttpsProtocol,
};

export function protocolFactory(name: string): ProtocolFactory {
  const factory = FACTORIES[name];
  if (!factory) throw new Error(`unknown protocol "${name}"`);
  return factory;
}
