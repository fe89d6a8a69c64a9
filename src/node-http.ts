// node:http loaded with require() instead of an ES import, for the workers' HTTP servers and the
// master's admin listener.
// Runs in: workers and the master.
//
// An ES import of a builtin reads every one of its exports, and one of node:http's on Node 26 is
// a lazy `WebSocket` getter that loads undici and node:tls: +15.6 MiB RSS for a process that
// serves plain HTTP (measured on Node 26.10: `import * as http from 'node:http'` 60.3 MiB, the
// same through require() 44.7; no difference on Node 20). require() leaves the getter alone.
// Types still come from `import type * as http from 'node:http'`, which loads nothing.

import { createRequire } from 'node:module';
import type * as Http from 'node:http';

export const nodeHttp = createRequire(import.meta.url)('node:http') as typeof Http;
