// Integration: `http+proxy://` and `line+proxy://` listeners (TCP and Unix) of a real master and
// workers. A valid v1 or v2 header makes its client the peer everywhere (access log, logs,
// Express's req.ip and req.socket); a missing, malformed, slow or untrusted header closes the
// connection with a log line and nothing reaches the protocol; plain listeners are untouched.
// Runs in: the test runner process; drives real processes and sockets.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LOG } from '../../src/log.js';
import { waitForLog } from '../helpers/log-file.js';
import { exchange, proxyV1, proxyV2, rawGet, responseOf, type Endpoint } from '../helpers/proxy-client.js';
import { reapAll, startRaas, tmpDir, type RaasProcess } from '../helpers/raas.js';

after(reapAll);

const fixture = (name: string): string => fileURLToPath(new URL(`../../../test/fixtures/${name}`, import.meta.url));

/** `http+proxy://127.0.0.1:4000` or `line+proxy://unix:/p` (as the master logs it) -> an endpoint. */
function endpointOf(bound: string, localAddress?: string): Endpoint {
  const rest = bound.replace(/^[a-z+]+:\/\//, '');
  if (rest.startsWith('unix:')) return { path: rest.slice(5) };
  const i = rest.lastIndexOf(':');
  return { host: rest.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(rest.slice(i + 1)), localAddress };
}

describe('PROXY protocol listeners (built-in endpoints and the line protocol)', () => {
  let raas: RaasProcess;
  let dir: string;
  let accessLog: string;
  const at: Record<string, string> = {};

  before(async () => {
    dir = tmpDir('raas-proxy-');
    accessLog = path.join(dir, 'access.log');
    raas = await startRaas({
      args: [
        '-w', '2',
        '-l', 'http+proxy://127.0.0.1:0',
        '-l', 'line+proxy://127.0.0.1:0',
        '-l', `http+proxy://unix:${dir}/http.sock`,
        '-l', `line+proxy://unix:${dir}/line.sock`,
        '-l', 'http://127.0.0.1:0',
        // 127.0.0.2 is loopback too, but not a trusted balancer here.
        '--proxy-from', '127.0.0.1/32,::1',
        '--access-log', accessLog,
      ],
      env: { RAAS_DEBUG: '1' },
    });
    const bound = await raas.ready();
    [at.http, at.line, at.httpUnix, at.lineUnix, at.plain] = bound as [string, string, string, string, string];
    assert.match(at.http!, /^http\+proxy:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(at.lineUnix, `line+proxy://unix:${dir}/line.sock`);
  });

  after(async () => {
    if (raas?.alive) {
      raas.signal('SIGQUIT');
      assert.equal((await raas.waitExit()).code, 0);
    }
  });

  const accessLines = (): string[] => (fs.existsSync(accessLog) ? fs.readFileSync(accessLog, 'utf8').split('\n').filter(Boolean) : []);
  const waitAccess = (marker: string): Promise<string> =>
    waitForLog(accessLog, `an access line for ${marker}`, (c) => c.lines.find((l) => l.includes(marker)));

  it('v1 on http+proxy: the client the header names is the access log\'s remote', async () => {
    const reply = await exchange(endpointOf(at.http!), [proxyV1('203.0.113.7', 40001, '198.51.100.1', 80), rawGet('/reverse?s=v1-tcp4')]);
    assert.deepEqual(responseOf(reply.text), { status: 200, body: '4pct-1v' });
    assert.match(await waitAccess('s=v1-tcp4'), /^203\.0\.113\.7 - - \[/);
  });

  it('v2 sent in pieces, then two keep-alive requests: both logged with the header\'s IPv6 client', async () => {
    const header = proxyV2('2001:db8::7', 40002, '2001:db8::1', 80, { tlvs: [[0x02, 'raas.example'], [0x05, 'req-1']] });
    const keepAlive = 'GET /reverse?s=v2-a HTTP/1.1\r\nHost: x\r\n\r\n';
    const reply = await exchange(endpointOf(at.http!), [header.subarray(0, 3), header.subarray(3, 14), header.subarray(14), keepAlive, rawGet('/reverse?s=v2-b')]);
    assert.match(reply.text, /a-2v/);
    assert.match(reply.text, /b-2v/);
    assert.match(await waitAccess('s=v2-a'), /^2001:db8::7 /);
    assert.match(await waitAccess('s=v2-b'), /^2001:db8::7 /);
  });

  it('line+proxy over TCP: replies as usual, and the log names the header\'s client and port', async () => {
    const v1 = await exchange(endpointOf(at.line!), [proxyV1('192.0.2.55', 50123, '192.0.2.1', 2200), 'hello line\n']);
    assert.equal(v1.text, 'enil olleh\n');
    const v2 = await exchange(endpointOf(at.line!), [proxyV2('192.0.2.56', 50124, '192.0.2.1', 2200), 'abc', 'def\n']);
    assert.equal(v2.text, 'fedcba\n');
    for (const [client, port, version] of [['192.0.2.55', '50123', '1'], ['192.0.2.56', '50124', '2']] as const) {
      await raas.waitForEvent(LOG.PROXY_HEADER, { role: 'worker', listen: at.line!, client, client_port: port, proxy: '127.0.0.1', version });
    }
  });

  it('Unix sockets: a unix peer may send a header; its client is logged', async () => {
    const http = await exchange(endpointOf(at.httpUnix!), [proxyV2('192.0.2.77', 1234, '192.0.2.1', 80), rawGet('/reverse?s=unix-http')]);
    assert.equal(responseOf(http.text).body, 'ptth-xinu');
    assert.match(await waitAccess('s=unix-http'), /^192\.0\.2\.77 /);
    const line = await exchange(endpointOf(at.lineUnix!), [proxyV1('192.0.2.78', 4321, '192.0.2.1', 2200), 'unix line\n']);
    assert.equal(line.text, 'enil xinu\n');
    await raas.waitForEvent(LOG.PROXY_HEADER, { listen: at.lineUnix!, client: '192.0.2.78', proxy: 'unix' });
  });

  it('LOCAL (a balancer\'s health check) keeps the real peer', async () => {
    const reply = await exchange(endpointOf(at.http!), [proxyV2('0.0.0.0', 0, '0.0.0.0', 0, { local: true }), rawGet('/healthz?local')]);
    assert.equal(responseOf(reply.text).status, 200);
    assert.match(await waitAccess('/healthz?local'), /^127\.0\.0\.1 /);
  });

  const refusals: Array<[string, () => Promise<Endpoint>, Array<Buffer | string>, RegExp]> = [
    ['a request without a header', async () => endpointOf(at.http!), [rawGet('/reverse?s=no-header')], /no PROXY protocol header/],
    ['a line without a header', async () => endpointOf(at.line!), ['no header\n'], /no PROXY protocol header/],
    ['a malformed v1 header (port 99999)', async () => endpointOf(at.http!), ['PROXY TCP4 192.0.2.1 192.0.2.2 99999 80\r\n', rawGet('/reverse?s=bad-port')], /bad port/],
    ['a v2 header with an unknown command', async () => endpointOf(at.line!), [Buffer.concat([proxyV2('192.0.2.1', 1, '192.0.2.2', 2).subarray(0, 12), Buffer.from([0x2f, 0x11, 0, 12]), Buffer.alloc(12)]), 'x\n'], /unknown command/],
    ['a header from a peer not in proxy-from', async () => endpointOf(at.http!, '127.0.0.2'), [proxyV1('192.0.2.9', 1, '192.0.2.2', 80), rawGet('/reverse?s=spoofed')], /peer not in proxy-from/],
    ['a unix peer that closes mid-header', async () => endpointOf(at.httpUnix!), ['PROXY TCP4 192.0.2.1'], /closed in the middle of the header/],
  ];
  for (const [what, to, pieces, reason] of refusals) {
    it(`closes ${what}, sending nothing, with a log line`, async () => {
      const mark = raas.entries.length;
      const endpoint = await to();
      // The peer that closes mid-header half-closes by itself once its bytes are out.
      const reply = what.includes('closes mid-header') ? await exchangeThenEnd(endpoint, pieces) : await exchange(endpoint, pieces);
      assert.equal(reply.closed, true, 'the server closed the connection');
      assert.equal(reply.data.length, 0, `nothing may be sent, got ${JSON.stringify(reply.text)}`);
      const refused = await raas.waitFor(`a ${LOG.PROXY_REFUSED} line matching ${reason}`, () =>
        raas.entries.slice(mark).find((e) => e.event === LOG.PROXY_REFUSED && reason.test(e.reason ?? '')),
      );
      // Rate-limited (log-flood.test.ts): a refusal held back because another one of its kind was
      // logged by the same worker within 10 s is a debug line of its own (RAAS_DEBUG is on here).
      assert.ok(refused.level === 'warn' || refused.level === 'debug', `level=${refused.level}`);
      if ('localAddress' in endpoint && endpoint.localAddress) assert.equal(refused.peer, endpoint.localAddress);
    });
  }

  it('a header that never completes is cut at the header deadline', async () => {
    const mark = raas.entries.length;
    const reply = await exchange(endpointOf(at.line!), ['PROXY TCP4 192.0.2.1 '], { timeoutMs: 20_000 });
    assert.equal(reply.closed, true);
    assert.equal(reply.data.length, 0);
    assert.ok(reply.ms >= 4000, `closed after ${reply.ms} ms, before the deadline`);
    await raas.waitFor('the deadline refusal', () =>
      raas.entries.slice(mark).find((e) => e.event === LOG.PROXY_REFUSED && /no complete header within 5000 ms/.test(e.reason ?? '')),
    );
  });

  it('no refused connection reached the access log; a plain listener still treats a header as a bad request', async () => {
    const lines = accessLines();
    for (const marker of ['no-header', 'bad-port', 'spoofed']) {
      assert.equal(lines.filter((l) => l.includes(marker)).length, 0, `${marker} must not be served`);
    }
    const plain = await exchange(endpointOf(at.plain!), [proxyV1('192.0.2.1', 1, '192.0.2.2', 80), rawGet('/reverse?s=plain')]);
    assert.equal(responseOf(plain.text).status, 400);
    assert.deepEqual(raas.errorLines(), []);
  });
});

describe('PROXY protocol and an app: Express sees the client', () => {
  let raas: RaasProcess;
  let at: string;

  before(async () => {
    raas = await startRaas({ args: ['-w', '1', '-l', 'http+proxy://127.0.0.1:0', '--app', fixture('proxy-client-app.mjs')] });
    [at] = (await raas.ready()) as [string];
  });

  after(async () => {
    if (raas?.alive) {
      raas.signal('SIGQUIT');
      assert.equal((await raas.waitExit()).code, 0);
    }
  });

  it('req.ip, req.socket.remoteAddress and remotePort come from a v1 header', async () => {
    const reply = await exchange(endpointOf(at), [proxyV1('198.51.100.23', 61000, '192.0.2.1', 443), rawGet('/whoami')]);
    assert.deepEqual(JSON.parse(responseOf(reply.text).body), {
      ip: '198.51.100.23',
      remoteAddress: '198.51.100.23',
      remotePort: 61000,
      remoteFamily: 'IPv4',
    });
  });

  it('and from a v2 IPv6 header', async () => {
    const reply = await exchange(endpointOf(at), [proxyV2('2001:db8::42', 1, '2001:db8::1', 443), rawGet('/whoami')]);
    assert.deepEqual(JSON.parse(responseOf(reply.text).body), {
      ip: '2001:db8::42',
      remoteAddress: '2001:db8::42',
      remotePort: 1,
      remoteFamily: 'IPv6',
    });
  });
});

/** Like exchange(), then half-closes: a peer that stops in the middle of its header. */
async function exchangeThenEnd(to: Endpoint, pieces: Array<Buffer | string>) {
  const net = await import('node:net');
  return new Promise<{ closed: boolean; data: Buffer; text: string }>((resolve) => {
    const socket = 'path' in to ? net.connect(to.path) : net.connect(to.port, to.host);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => done(false), 10_000);
    const done = (closed: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      const data = Buffer.concat(chunks);
      resolve({ closed, data, text: data.toString() });
    };
    socket.on('connect', () => {
      for (const p of pieces) socket.write(p);
      socket.end();
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => done(true));
    socket.on('error', () => done(true));
  });
}
