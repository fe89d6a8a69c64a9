// node:http (and node:https) loaded with require() instead of an ES import, for the workers' HTTP
// servers and the master's admin listener.
// Runs in: workers and the master.
//
// An ES import of a builtin reads every one of its exports, and one of node:http's on Node 26 is
// a lazy `WebSocket` getter that loads undici and node:tls: +15.6 MiB RSS for a process that
// serves plain HTTP (measured on Node 26.10: `import * as http from 'node:http'` 60.3 MiB, the
// same through require() 44.7; no difference on Node 20). require() leaves the getter alone.
// Types still come from `import type * as http from 'node:http'`, which loads nothing.

import { createRequire } from 'node:module';
import type * as Http from 'node:http';
import type * as Https from 'node:https';

const require = createRequire(import.meta.url);

export const nodeHttp = require('node:http') as typeof Http;

/**
 * node:https, for the first https:// listener's server: it brings node:tls and crypto, memory a
 * worker without one never needs (~1.5 MiB RSS on Node 20, ~5 MiB on Node 26; see
 * config/tls-files.ts). A builtin: the require cannot fail.
 */
export function loadHttps(): typeof Https {
  return require('node:https') as typeof Https;
}
