// Integration: per-connection log lines any client can cause (proxy-refused, client-error) are
// rate-limited like line-timeouts: the first is logged at once, then at most one line per kind per
// 10 s with the count held back, and what is still held back when the worker exits is logged then.
// A flood of one kind never hides the first of another.
// Runs in: the test runner process; drives a real master and worker over loopback sockets.

import assert from 'node:assert/strict';
import * as net from 'node:net';
import { after, describe, it } from 'node:test';
import { LOG } from '../../src/log.js';
import { exchange, proxyV1, rawGet, type Endpoint } from '../helpers/proxy-client.js';
import { reapAll, startRaas, type LogEntry } from '../helpers/raas.js';

after(reapAll);

const FLOOD = 600;
const PARALLEL = 50;

function endpointOf(bound: string, localAddress?: string): Endpoint & { host: string; port: number } {
  const { hostname, port } = new URL(bound.replace(/^[a-z+]+:/, 'http:'));
  return { host: hostname, port: Number(port), ...(localAddress ? { localAddress } : {}) };
}

/** Opens `count` connections, `PARALLEL` at a time; each sends `bytes` and waits for the server's close. */
async function flood(to: { host: string; port: number }, bytes: string, count: number): Promise<void> {
  let next = 0;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const socket = net.connect(to.port, to.host);
      socket.on('error', () => {});
      socket.on('connect', () => socket.write(bytes));
      socket.resume();
      socket.on('close', () => resolve());
    });
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (next < count) {
        next++;
        await one();
      }
    }),
  );
}

const sum = (entries: LogEntry[]): number => entries.reduce((n, e) => n + Number(e.count), 0);

describe('log lines any client can cause are rate-limited', () => {
  it(`proxy-refused: ${FLOOD} peers outside proxy-from make one line at once and one with the count at exit`, async () => {
    const raas = await startRaas({
      args: ['-w', '1', '-l', 'http+proxy://127.0.0.1:0', '--proxy-from', '127.0.0.1/32'],
    });
    const [bound] = await raas.ready();
    // 127.0.0.2 is loopback but not in proxy-from.
    const untrusted = { ...endpointOf(bound!), localAddress: '127.0.0.2' };
    let next = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        while (next < FLOOD) {
          next++;
          // A flood: header and request need not be separate reads (the header is refused either way).
          await exchange(untrusted, [proxyV1('192.0.2.1', 1, '192.0.2.2', 80), rawGet('/healthz')], { split: false });
        }
      }),
    );
    const floodMs = Date.now() - started;
    const refused = (): LogEntry[] => raas.events(LOG.PROXY_REFUSED, 'worker');
    // A trusted peer with a bad header is counted apart: logged at once despite the flood. Its
    // line also comes after every line of the flood on the worker's stderr (one pipe, in order).
    await exchange(endpointOf(bound!), [rawGet('/healthz?no-header')]);
    await raas.waitFor('the bad header\'s line', () => refused().find((e) => /no PROXY protocol header/.test(e.reason ?? '')));
    const flooded = refused().filter((e) => /peer not in proxy-from/.test(e.reason ?? ''));
    if (floodMs < 9000) assert.equal(flooded.length, 1, `one line for ${FLOOD} refusals in ${floodMs} ms, got ${flooded.length}`);
    assert.deepEqual([flooded[0]!.count, flooded[0]!.total, flooded[0]!.level], ['1', '1', 'warn']);
    assert.equal(flooded[0]!.peer, '127.0.0.2');
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
    // At exit, the worker said what it held back.
    const untrustedLines = refused().filter((e) => /peer not in proxy-from/.test(e.reason ?? ''));
    assert.ok(untrustedLines.length <= 2 + Math.ceil(floodMs / 10_000), untrustedLines.map((e) => JSON.stringify(e)).join('\n'));
    assert.equal(sum(untrustedLines), FLOOD);
    assert.equal(untrustedLines.at(-1)!.total, String(FLOOD));
  });

  it(`client-error: ${FLOOD} malformed requests make one line at once, another status its own, and the count at exit`, async () => {
    const raas = await startRaas({ args: ['-w', '1', '-l', 'http://127.0.0.1:0', '--max-header-size', '1024'] });
    const [bound] = await raas.ready();
    const to = endpointOf(bound!);
    const started = Date.now();
    await flood(to, 'GARBAGE\r\n\r\n', FLOOD);
    const floodMs = Date.now() - started;
    const errors = (status: string): LogEntry[] => raas.events(LOG.CLIENT_ERROR, 'worker').filter((e) => e.status === status);
    // Another status is logged at once, whatever the 400s did; its line follows all of theirs.
    await flood(to, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(2000)}\r\n\r\n`, 1);
    await raas.waitFor('the 431', () => errors('431').length > 0);
    if (floodMs < 9000) assert.equal(errors('400').length, 1, `one line for ${FLOOD} bad requests in ${floodMs} ms`);
    assert.deepEqual([errors('400')[0]!.count, errors('400')[0]!.total, errors('400')[0]!.code], ['1', '1', 'HPE_INVALID_METHOD']);
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
    assert.equal(sum(errors('400')), FLOOD, errors('400').map((e) => JSON.stringify(e)).join('\n'));
    assert.ok(errors('400').length <= 1 + Math.ceil(floodMs / 10_000) + 1, `${errors('400').length} lines`);
  });
});
