// Integration: a real master and workers serve HTTP/1.1: the built-in /reverse and /healthz
// endpoints, an Express app and a Hono app through --app (with their workerStart/workerStop
// hooks), keep-alive and pipelining, refusals of bad input (431, 408, 400), a throwing handler
// (500, same worker), and an app that crashes its worker (replaced in its slot, no client fails).
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LOG } from '../../src/log.js';
import {
  HttpLoad,
  httpRequest,
  httpTarget,
  parseResponses,
  rawExchange,
  type HttpTarget,
} from '../helpers/http-load.js';
import { isAlive, reapAll, startRaas, tmpDir, waitUntil, type RaasProcess } from '../helpers/raas.js';

after(reapAll);

const fixture = (name: string): string => fileURLToPath(new URL(`../../../test/fixtures/${name}`, import.meta.url));

/** Stops `raas` with QUIT and checks a clean exit. */
async function quit(raas: RaasProcess): Promise<void> {
  raas.signal('SIGQUIT');
  assert.equal((await raas.waitExit()).code, 0);
}

describe('HTTP: built-in endpoints and bad input', () => {
  let raas: RaasProcess;
  let target: HttpTarget;

  before(async () => {
    raas = await startRaas({
      args: [
        '--listen', 'http://127.0.0.1:0', '-w', '2',
        '--max-body', '16', '--max-header-size', '1024', '--headers-timeout', '0.5',
      ],
    });
    const [bound] = await raas.ready();
    assert.match(bound!, /^http:\/\/127\.0\.0\.1:\d+$/);
    target = httpTarget(bound!);
  });

  after(async () => {
    if (raas?.alive) await quit(raas);
  });

  it('GET /reverse reverses the percent-encoded query by grapheme, as UTF-8 text', async () => {
    const s = 'héllo👍🏽';
    const reply = await httpRequest(target, { path: `/reverse?s=${encodeURIComponent(s)}` });
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(reply.text, '👍🏽olléh');
    assert.equal(reply.headers['content-length'], String(Buffer.byteLength('👍🏽olléh')));
    // Combining marks and ZWJ sequences stay whole.
    const family = 'ae\u0301👨‍👩‍👧';
    assert.equal((await httpRequest(target, { path: `/reverse?s=${encodeURIComponent(family)}` })).text, '👨‍👩‍👧e\u0301a');
  });

  it('POST /reverse reverses the body, up to --max-body (16 bytes), else 413', async () => {
    const body = 'héllo👍🏽'; // 14 bytes
    const ok = await httpRequest(target, { method: 'POST', path: '/reverse', body });
    assert.equal(ok.status, 200);
    assert.equal(ok.text, '👍🏽olléh');
    assert.equal(ok.headers['content-type'], 'text/plain; charset=utf-8');

    const exact = await httpRequest(target, { method: 'POST', path: '/reverse', body: '0123456789abcdef' });
    assert.equal(exact.status, 200);
    assert.equal(exact.text, 'fedcba9876543210');

    const declared = await httpRequest(target, { method: 'POST', path: '/reverse', body: '0123456789abcdefg' });
    assert.equal(declared.status, 413);
    assert.equal(declared.headers.connection, 'close');

    const chunked = await httpRequest(target, {
      method: 'POST', path: '/reverse', body: 'x'.repeat(40), chunked: true,
    });
    assert.equal(chunked.status, 413);
  });

  it('invalid UTF-8 (query or body) gets 400', async () => {
    const query = await httpRequest(target, { path: '/reverse?s=%FF%FE' });
    assert.equal(query.status, 400);
    assert.match(query.text, /UTF-8/);
    const body = await httpRequest(target, { method: 'POST', path: '/reverse', body: Buffer.from([0x61, 0xc3]) });
    assert.equal(body.status, 400);
    assert.match(body.text, /UTF-8/);
  });

  it('/healthz 200, unknown path 404, wrong method 405 with Allow, HEAD without a body', async () => {
    const health = await httpRequest(target, { path: '/healthz' });
    assert.equal(health.status, 200);
    assert.equal(health.text, 'ok\n');

    assert.equal((await httpRequest(target, { path: '/nope' })).status, 404);
    assert.equal((await httpRequest(target, { path: '/reverse/extra?s=a' })).status, 404);

    const del = await httpRequest(target, { method: 'DELETE', path: '/reverse?s=a' });
    assert.equal(del.status, 405);
    assert.equal(del.headers.allow, 'GET, HEAD, POST');
    const post = await httpRequest(target, { method: 'POST', path: '/healthz', body: '' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');

    const head = await httpRequest(target, { method: 'HEAD', path: `/reverse?s=${encodeURIComponent('héllo')}` });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.equal(head.headers['content-length'], String(Buffer.byteLength('olléh')));
    const headHealth = await httpRequest(target, { method: 'HEAD', path: '/healthz' });
    assert.equal(headHealth.status, 200);
    assert.equal(headHealth.body.length, 0);
  });

  it('keep-alive: several requests over one agent socket reuse one connection', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const replies = [];
      for (let i = 0; i < 5; i++) replies.push(await httpRequest(target, { path: `/reverse?s=ka${i}`, agent }));
      replies.forEach((r, i) => {
        assert.equal(r.status, 200);
        assert.equal(r.text, `${i}ak`);
        assert.notEqual(r.headers.connection, 'close');
        assert.equal(r.reused, i > 0, `request ${i} reused=${r.reused}`);
      });
      assert.equal(new Set(replies.map((r) => r.localPort)).size, 1, 'one TCP connection');
    } finally {
      agent.destroy();
    }
  });

  it('pipelining: two requests written at once get two responses, in order', async () => {
    const ex = await rawExchange(
      target,
      'GET /reverse?s=first HTTP/1.1\r\nHost: t\r\n\r\n' +
        'GET /reverse?s=second HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n',
    );
    assert.equal(ex.closed, true);
    const responses = parseResponses(ex.text);
    assert.deepEqual(
      responses.map((r) => [r.status, r.body]),
      [
        [200, 'tsrif'],
        [200, 'dnoces'],
      ],
    );
  });

  it('a head over --max-header-size (1 KiB) gets 431 and the connection closes', async () => {
    const ex = await rawExchange(target, `GET /reverse?s=a HTTP/1.1\r\nHost: t\r\nX-Big: ${'a'.repeat(2000)}\r\n\r\n`);
    assert.match(ex.text, /^HTTP\/1\.1 431 /);
    assert.equal(ex.closed, true);
    // A head just under the limit is served.
    const fine = await httpRequest(target, { path: '/reverse?s=ok', headers: { 'x-small': 'a'.repeat(500) } });
    assert.equal(fine.status, 200);
    await raas.waitForEvent(LOG.CLIENT_ERROR, { role: 'worker', status: '431' });
  });

  it('slowloris: a head not finished within --headers-timeout (0.5 s) gets 408 within a few seconds', async () => {
    const ex = await rawExchange(target, 'GET /reverse?s=slow HTTP/1.1\r\nHost: t\r\n', {
      trickle: 'X-Drip: 1\r\n',
      trickleMs: 50,
      // The drip never stops: without headers-timeout the exchange would last until this deadline.
      timeoutMs: 20_000,
    });
    assert.match(ex.text, /^HTTP\/1\.1 408 /, `got ${JSON.stringify(ex.text)} error=${ex.error}`);
    assert.equal(ex.closed, true);
    assert.ok(ex.firstByteMs !== null && ex.firstByteMs >= 450, `408 after ${ex.firstByteMs} ms`);
    assert.ok(ex.firstByteMs! < 15_000, `408 after ${ex.firstByteMs} ms`);
  });

  it('a malformed request line gets 400 and the connection closes', async () => {
    const ex = await rawExchange(target, 'THIS IS NOT HTTP\r\n\r\n');
    assert.match(ex.text, /^HTTP\/1\.1 400 /);
    assert.equal(ex.closed, true);
    // A valid request pipelined after the garbage is never served.
    const ex2 = await rawExchange(target, 'GET /reverse?s=a HTTP/9.9.9\r\n\r\nGET /reverse?s=b HTTP/1.1\r\nHost: t\r\n\r\n');
    assert.match(ex2.text, /^HTTP\/1\.1 400 /);
    assert.equal(ex2.closed, true);
    assert.equal((ex2.text.match(/HTTP\/1\.1 /g) ?? []).length, 1, ex2.text);
  });

  it('no worker crashed or was replaced while serving all of the above', () => {
    assert.equal(raas.events(LOG.WORKER_EXIT).length, 0);
    assert.equal(raas.events(LOG.UNCAUGHT).length, 0);
    assert.equal(raas.readyWorkers().size, 2);
  });
});

describe('HTTP: apps through --app', () => {
  for (const [kind, file] of [
    ['express', 'integ-express-app.mjs'],
    ['hono', 'integ-hono-app.mjs'],
  ] as const) {
    it(`serves a ${kind} app; workerStart runs before ready and workerStop after QUIT, in every worker`, async () => {
      const markers = tmpDir('raas-integ-markers-');
      const raas = await startRaas({
        args: ['--listen', 'http://127.0.0.1:0', '-w', '2', '--app', fixture(file)],
        env: { RAAS_INTEG_MARKERS: markers },
      });
      const [bound] = await raas.ready();
      const target = httpTarget(bound!);
      const workers = [...raas.readyWorkers().values()];
      assert.equal(workers.length, 2);
      // Ready means workerStart has run; workerStop has not.
      for (const pid of workers) {
        assert.equal(fs.existsSync(path.join(markers, `${kind}-start-${pid}`)), true, `${kind}-start-${pid}`);
        assert.equal(fs.existsSync(path.join(markers, `${kind}-stop-${pid}`)), false, `${kind}-stop-${pid}`);
      }

      const hello = await httpRequest(target, { path: '/hello' });
      assert.equal(hello.status, 200);
      assert.equal(hello.text, `hello from ${kind}`);
      assert.ok(workers.includes(Number(hello.headers['x-pid'])), `x-pid ${hello.headers['x-pid']}`);

      const echo = await httpRequest(target, { method: 'POST', path: '/echo', body: 'héllo', headers: { 'content-type': 'text/plain' } });
      assert.equal(echo.status, kind === 'hono' ? 201 : 200);
      assert.equal(echo.text, 'HÉLLO');

      const user = await httpRequest(target, { path: '/users/42?q=x%20y' });
      assert.equal(user.status, 200);
      assert.match(String(user.headers['content-type']), /^application\/json/);
      assert.deepEqual(JSON.parse(user.text), { id: '42', q: 'x y' });

      const missing = await httpRequest(target, { path: '/missing' });
      assert.equal(missing.status, 404);

      const head = await httpRequest(target, { method: 'HEAD', path: '/hello' });
      assert.equal(head.status, 200);
      assert.equal(head.body.length, 0);

      await quit(raas);
      for (const pid of workers) {
        assert.equal(fs.existsSync(path.join(markers, `${kind}-stop-${pid}`)), true, `${kind}-stop-${pid}`);
        assert.equal(isAlive(pid), false);
      }
      assert.deepEqual(raas.errorLines(), []);
    });
  }
});

describe('HTTP: failing apps', () => {
  it('a handler that throws (or rejects) gets 500 and the same worker keeps serving', async () => {
    const raas = await startRaas({
      args: ['--listen', 'http://127.0.0.1:0', '-w', '2', '--app', fixture('integ-plain-app.mjs')],
    });
    const [bound] = await raas.ready();
    const target = httpTarget(bound!);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await httpRequest(target, { path: '/pid', agent });
      const pid = Number(first.headers['x-pid']);
      assert.ok(raas.readyWorkers().size === 2 && [...raas.readyWorkers().values()].includes(pid));

      for (const route of ['/throw', '/reject']) {
        const failed = await httpRequest(target, { path: route, agent });
        assert.equal(failed.status, 500, route);
        assert.equal(failed.text, 'internal server error\n');
        assert.equal(failed.headers['x-pid'], undefined, 'app headers set before the throw are dropped');
        assert.equal(failed.reused, true, 'the 500 keeps the connection open');
        const next = await httpRequest(target, { path: '/pid', agent });
        assert.equal(next.status, 200);
        assert.equal(Number(next.headers['x-pid']), pid, 'served by the same worker');
        assert.equal(next.reused, true);
      }
      const errors = await raas.waitFor('two handler errors', () => {
        const e = raas.events(LOG.HANDLER_ERROR, 'worker');
        return e.length >= 2 ? e : undefined;
      });
      assert.deepEqual(errors.map((e) => [e.pid, e.url]), [
        [String(pid), '/throw'],
        [String(pid), '/reject'],
      ]);
      assert.equal(isAlive(pid), true);
      assert.equal(raas.events(LOG.WORKER_EXIT).length, 0);
      assert.equal(raas.events(LOG.UNCAUGHT).length, 0);
    } finally {
      agent.destroy();
    }
    await quit(raas);
  });

  for (const route of ['/crash', '/crash-rejection']) {
    it(`an app that crashes its worker (${route}) is replaced in the same slot while 20 keep-alive clients see no failure`, async (t) => {
      const raas = await startRaas({
        args: ['--listen', 'http://127.0.0.1:0', '-w', '2', '--app', fixture('integ-plain-app.mjs')],
      });
      const [bound] = await raas.ready();
      const target = httpTarget(bound!);
      const before = raas.readyWorkers();
      // Reconnecting clients: which worker holds which is not decided once by the connect burst.
      const load = new HttpLoad(target, { concurrency: 20, reconnectEvery: 25 });
      try {
        await waitUntil('some load served', () => load.ok > 300);

        // Open connections until one lands on a worker holding load clients, and crash that one.
        const mark = raas.entries.length;
        let held = 0;
        let bye: Awaited<ReturnType<typeof httpRequest>> | undefined;
        for (let attempt = 0; bye === undefined && attempt < 500; attempt++) {
          const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
          try {
            const probe = await httpRequest(target, { path: '/pid', agent });
            held = load.clientsOn(probe.text);
            if (held > 0) {
              bye = await httpRequest(target, { path: route, agent });
              assert.equal(bye.headers['x-pid'], probe.text, 'the crash request went on the probed connection');
            }
          } finally {
            agent.destroy();
          }
        }
        assert.ok(bye !== undefined && held > 0, `no connection landed on a worker holding clients: ${JSON.stringify(load.report.byPid)}`);
        assert.equal(bye.status, 200);
        assert.equal(bye.text, 'bye');
        const victim = Number(bye.headers['x-pid']);
        const slot = [...before.entries()].find(([, pid]) => pid === victim)?.[0];
        assert.notEqual(slot, undefined, `x-pid ${victim} is one of ${[...before.values()]}`);

        const uncaught = await raas.waitForEvent(LOG.UNCAUGHT, { role: 'worker', pid: String(victim) }, { after: mark });
        assert.equal(uncaught.kind, route === '/crash' ? 'uncaughtException' : 'unhandledRejection');
        const exit = await raas.waitForEvent(LOG.WORKER_EXIT, { role: 'master', worker_pid: String(victim) }, { after: mark });
        assert.equal(exit.slot, String(slot));
        assert.equal(exit.reason, uncaught.kind);
        assert.notEqual(exit.code, '0');
        const replacement = await raas.waitForEvent(LOG.WORKER_READY, { role: 'master', slot: String(slot) }, { after: mark });
        assert.notEqual(Number(replacement.worker_pid), victim);
        await waitUntil('victim gone', () => !isAlive(victim));

        const served = load.ok;
        await waitUntil('load served after the replacement', () => load.ok > served + 300);
        const report = await load.stop();
        t.diagnostic(`load: ${JSON.stringify({ ...report, samples: undefined })}; the victim held ${held} clients`);
        assert.deepEqual(report.failures, {}, JSON.stringify(report, null, 1));
        assert.ok(report.ok > 600);

        // The other slot was never touched.
        const otherSlot = slot === 0 ? 1 : 0;
        assert.equal(raas.readyWorkers().get(otherSlot), before.get(otherSlot));
        assert.equal(raas.readyWorkers().get(slot!), Number(replacement.worker_pid));
      } finally {
        await load.stop();
      }
      await quit(raas);
    });
  }
});
