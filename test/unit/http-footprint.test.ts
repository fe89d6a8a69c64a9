// What an HTTP worker loads: node:https, node:tls and crypto only for an https:// listener (they
// cost a worker ~1.5 MiB RSS on Node 20, ~5 MiB on Node 26), and never undici, which an ES import
// of node:http pulls in on Node 26 (src/node-http.ts: +15.6 MiB). Checked in a fresh child
// process, since the test runner itself may have loaded them.
// Runs in: the node:test runner process and one child `node` process.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';

const here = (rel: string): string => new URL(rel, import.meta.url).href;

test('an HTTP worker serving plain http:// loads neither undici, node:tls, node:https nor node:crypto', () => {
  const script = `
    const { createHttpProtocol } = await import(${JSON.stringify(here('../../src/protocols/http/index.js'))});
    const { Logger } = await import(${JSON.stringify(here('../../src/log.js'))});
    const { SETTINGS } = await import(${JSON.stringify(here('../../src/config/settings.js'))});
    const settings = Object.fromEntries(SETTINGS.map((s) => [s.key, typeof s.default === 'function' ? s.default() : s.default]));
    const protocol = await createHttpProtocol({ settings, log: new Logger({ role: 'test' }), slot: 0 });
    const server = protocol.createServer({ listener: 0 });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const loaded = process.moduleLoadList.filter((m) => /^NativeModule (https?|tls|crypto)$/.test(m) || m.endsWith('undici/undici'));
    server.close();
    process.stdout.write(JSON.stringify(loaded));`;
  const loaded = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as string[];
  // The list is what we think it is: the server's own module is in it.
  assert.ok(loaded.includes('NativeModule http'), `moduleLoadList: ${loaded.join(', ')}`);
  assert.deepEqual(loaded.filter((m) => m !== 'NativeModule http'), []);
});
