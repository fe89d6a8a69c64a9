// Integration: zero-code mode. Unchanged apps that create their own server and call listen()
// themselves (Express's app.listen(PORT), Fastify's await fastify.listen(), node:http on a Unix
// path) run under a real master: they get RAAS's sockets, serve through HUP and TTOU without a
// failed request, learn who they are (RAAS_WORKER_SLOT, NODE_APP_INSTANCE, workerStart({ slot,
// generation }), worker-node-args), and a listen() on a port RAAS does not have fails naming --listen.
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LOG } from '../../src/log.js';
import { WORKER_NODE_FLAGS, workerHeapFlags } from '../../src/master/launcher.js';
import { HttpLoad, httpRequest, httpTarget, type HttpLoadReport } from '../helpers/http-load.js';
import { reapAll, startRaas, tmpDir, waitUntil } from '../helpers/raas.js';

after(reapAll);

const fixture = (name: string): string => fileURLToPath(new URL(`../../../test/fixtures/${name}`, import.meta.url));
const show = (report: HttpLoadReport): string => JSON.stringify({ ...report, byPid: undefined }, null, 1);

async function served(load: HttpLoad, more: number): Promise<void> {
  const before = load.ok;
  await waitUntil(`${more} more requests served`, () => load.ok >= before + more, 15_000);
}

const echo = (client: number, n: number): { path: string; expected: string } => {
  const s = `c${client}-n${n}`;
  return { path: `/echo?s=${s}`, expected: s };
};

describe('zero-code mode: apps that call listen() themselves', () => {
  it('Express app.listen(PORT): identity, node args, and HUP then TTOU under load fail no request', async (t) => {
    const raas = await startRaas({
      args: [
        '--listen', 'http://127.0.0.1:0', '--listen', '127.0.0.1:0', '-w', '3',
        '--app', fixture('zero-express.mjs'),
        '--worker-node-args', '--max-old-space-size=123 --enable-source-maps',
      ],
    });
    const [bound] = await raas.ready();
    const target = httpTarget(bound!);
    assert.ok(raas.entries.some((e) => e.event === LOG.APP_SELF_SERVING));

    // Every worker says who it is; the app's server.address() is RAAS's socket.
    const seen = new Map<string, Record<string, unknown>>();
    await waitUntil('all three slots answered /identity', async () => {
      const reply = await httpRequest(target, { path: '/identity' });
      const id = JSON.parse(reply.text) as Record<string, unknown>;
      seen.set(String(id.slot), id);
      return seen.size === 3;
    }, 15_000);
    for (const [slot, id] of seen) {
      assert.equal(id.instance, slot);
      assert.deepEqual(id.started, { slot: Number(slot), generation: 1 });
      assert.equal(id.port, String(target.port));
      assert.equal((id.address as { port: number }).port, target.port);
      // RAAS's own worker flags (--disable-sigusr1 where Node has it, the semi-space on Node 20)
      // come first, then the user's.
      const userFlags = ['--max-old-space-size=123', '--enable-source-maps'];
      assert.deepEqual(id.execArgv, [...WORKER_NODE_FLAGS, ...workerHeapFlags(userFlags), ...userFlags]);
    }

    const load = new HttpLoad(target, { concurrency: 30, request: echo });
    try {
      await served(load, 300);
      let mark = raas.entries.length;
      raas.signal('SIGHUP');
      await raas.waitForEvent(LOG.RELOAD_DONE, { role: 'master', gen: '2' }, { after: mark, timeoutMs: 20_000 });
      await served(load, 300);
      mark = raas.entries.length;
      raas.signal('SIGTTOU');
      const exit = await raas.waitForEvent(LOG.WORKER_EXIT, { role: 'master', slot: '2' }, { after: mark, timeoutMs: 20_000 });
      assert.equal(exit.code, '0');
      await served(load, 300);
      const report = await load.stop();
      t.diagnostic(`load: ${JSON.stringify({ ...report, samples: undefined })}`);
      assert.deepEqual(report.failures, {}, show(report));
    } finally {
      await load.stop();
    }
    // Generation 2 was told so.
    const id = JSON.parse((await httpRequest(target, { path: '/identity' })).text) as { started: { generation: number } };
    assert.equal(id.started.generation, 2);
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });

  it('QUIT drains the app\'s own server: the request in flight completes with Connection: close, idle keep-alive is closed', async () => {
    const raas = await startRaas({ args: ['--listen', 'http://127.0.0.1:0', '-w', '1', '--app', fixture('zero-express.mjs')] });
    const [bound] = await raas.ready();
    const target = httpTarget(bound!);
    const idleAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const idleClosed = new Promise<void>((resolve) => {
      idleAgent.on('free', (socket) => socket.once('close', () => resolve()));
    });
    assert.equal((await httpRequest(target, { path: '/echo?s=warm', agent: idleAgent })).text, 'warm');
    const slow = httpRequest(target, { path: '/slow?ms=800&id=q1' });
    await raas.waitFor('the slow request reached the app', () => raas.lines.some((l) => l.includes('slow-start q1')));
    raas.signal('SIGQUIT');
    const reply = await slow;
    assert.equal(reply.text, 'slow done');
    assert.equal(reply.headers.connection, 'close');
    await idleClosed;
    assert.equal((await raas.waitExit()).code, 0);
    idleAgent.destroy();
  });

  it('Fastify await fastify.listen({ port: PORT }) and node:http on a Unix path serve', async () => {
    const dir = tmpDir('raas-zero-');
    const sock = path.join(dir, 'app.sock');
    const raas = await startRaas({
      args: ['--listen', 'http://127.0.0.1:0', '-w', '2', '--app', fixture('zero-fastify.mjs')],
    });
    const [bound] = await raas.ready();
    const reply = await httpRequest(httpTarget(bound!), { path: '/hello' });
    assert.equal(reply.status, 200);
    assert.equal((JSON.parse(reply.text) as { hello: string }).hello, 'fastify');
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);

    const unix = await startRaas({
      args: ['--listen', `http://unix:${sock}`, '-w', '1', '--app', fixture('zero-plain-unix.cjs')],
    });
    await unix.ready();
    const viaUnix = await new Promise<string>((resolve, reject) => {
      http.get({ socketPath: sock, path: '/x', agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve(text));
      }).on('error', reject);
    });
    assert.equal(viaUnix, `plain on ${sock}`);
    unix.signal('SIGQUIT');
    assert.equal((await unix.waitExit()).code, 0);
  });

  it('Koa app.listen(PORT) and NestJS await app.listen(PORT) serve unchanged', async () => {
    for (const [app, path, expected] of [
      ['zero-koa.mjs', '/?s=hi', 'koa hi'],
      ['zero-nest.mjs', '/hello', /^hello from nest [01]$/],
    ] as const) {
      const raas = await startRaas({ args: ['--listen', 'http://127.0.0.1:0', '-w', '2', '--app', fixture(app)] });
      const [bound] = await raas.ready();
      const reply = await httpRequest(httpTarget(bound!), { path });
      assert.equal(reply.status, 200, app);
      if (typeof expected === 'string') assert.equal(reply.text, expected);
      else assert.match(reply.text, expected);
      raas.signal('SIGQUIT');
      assert.equal((await raas.waitExit()).code, 0);
    }
  });

  it('a listen() on a port RAAS has no listener on fails, naming --listen', async () => {
    const raas = await startRaas({
      args: ['--listen', 'http://127.0.0.1:0', '-w', '1', '--app', fixture('zero-unmatched.mjs'), '--boot-timeout', '5'],
      waitReady: false,
    });
    const failure = await raas.waitFor('the failed listen() logged', () =>
      raas.entries.find((e) => e.role === 'worker' && /has no http:\/\/ listener there .*add one with --listen/.test(e.error ?? '')),
    );
    assert.equal(failure.level, 'error');
    raas.signal('SIGQUIT');
    await raas.waitExit();
  });
});
