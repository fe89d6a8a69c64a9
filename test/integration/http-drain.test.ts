// Integration: HTTP workers drain gracefully under keep-alive load: QUIT finishes every request in
// flight (answering `Connection: close`) and exits 0; a HUP rolling restart and a TTOU scale-down
// fail no request of 40 keep-alive clients.
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LOG } from '../../src/log.js';
import { HttpLoad, httpRequest, httpTarget, type HttpLoadReport } from '../helpers/http-load.js';
import { isAlive, reapAll, startRaas, tmpDir, waitUntil } from '../helpers/raas.js';

after(reapAll);

const fixture = (name: string): string => fileURLToPath(new URL(`../../../test/fixtures/${name}`, import.meta.url));

async function served(load: HttpLoad, more: number): Promise<void> {
  const before = load.ok;
  await waitUntil(`${more} more requests served`, () => load.ok >= before + more, 15_000);
}

const show = (report: HttpLoadReport): string => JSON.stringify(report, null, 1);

describe('HTTP drains under keep-alive load', () => {
  it('QUIT: every request in flight (40 slow ones, plus one of 800 ms) completes, answered with Connection: close; exit 0', async (t) => {
    const markers = tmpDir('raas-integ-markers-');
    const raas = await startRaas({
      args: ['--listen', 'http://127.0.0.1:0', '-w', '2', '--app', fixture('integ-plain-app.mjs')],
      env: { RAAS_INTEG_MARKERS: markers },
    });
    const [bound] = await raas.ready();
    const target = httpTarget(bound!);
    const workers = [...raas.readyWorkers().values()];
    // Each load request spends 100 ms in the handler, so when QUIT comes nearly all of them are
    // inside a worker, their head not yet written: the drain must finish them, with Connection: close.
    const load = new HttpLoad(target, {
      concurrency: 40,
      request: () => ({ path: '/slow?ms=100', expected: 'slow done' }),
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      await served(load, 200);

      // A slow request the server is known to be handling (its marker file exists) when QUIT comes.
      const slow = httpRequest(target, { path: '/slow?ms=800&id=quit', agent });
      await waitUntil('the slow request reached a worker', () =>
        fs.readdirSync(markers).some((f) => f.startsWith('slow-quit-')),
      );
      const mark = raas.entries.length;
      // No new request starts from here; the ones in flight are awaited and must all succeed.
      const stopping = load.stop();
      raas.signal('SIGQUIT');

      const reply = await slow;
      assert.equal(reply.status, 200);
      assert.equal(reply.text, 'slow done');
      assert.equal(reply.headers.connection, 'close', 'a response finished during the drain says Connection: close');
      const slowPid = Number(reply.headers['x-pid']);
      assert.ok(
        raas.entries.slice(mark).some((e) => e.event === LOG.WORKER_DRAINING && e.pid === String(slowPid)),
        'the worker was draining before the slow response was sent',
      );

      const report = await stopping;
      t.diagnostic(`load: ${JSON.stringify({ ...report, samples: undefined })}`);
      assert.ok(report.inflightAtStop > 0, show(report));
      assert.deepEqual(report.failures, {}, show(report));
      // Requests that were inside a worker when it started draining were answered Connection: close.
      assert.ok(report.closeResponses > 0, show(report));

      assert.equal((await raas.waitExit()).code, 0);
      for (const pid of workers) {
        assert.equal(isAlive(pid), false);
        assert.equal(fs.existsSync(path.join(markers, `plain-stop-${pid}`)), true, `workerStop ran in ${pid}`);
      }
      assert.deepEqual(
        raas.events(LOG.WORKER_EXIT, 'master').map((e) => [e.code, e.reason]),
        workers.map(() => ['0', 'shutdown']),
      );
      assert.deepEqual(raas.errorLines(), []);
    } finally {
      await load.stop();
      agent.destroy();
    }
  });

  it('HUP: a rolling restart fails no request of 40 keep-alive clients', async (t) => {
    const raas = await startRaas({ args: ['--listen', 'http://127.0.0.1:0', '-w', '2'] });
    const [bound] = await raas.ready();
    const old = [...raas.readyWorkers().values()];
    const load = new HttpLoad(httpTarget(bound!), { concurrency: 40 });
    try {
      await served(load, 500);
      const mark = raas.entries.length;
      raas.signal('SIGHUP');
      await raas.waitForEvent(LOG.RELOAD_DONE, { role: 'master', gen: '2' }, { after: mark, timeoutMs: 20_000 });
      for (const pid of old) {
        const exit = await raas.waitForEvent(LOG.WORKER_EXIT, { role: 'master', worker_pid: String(pid) }, { after: mark });
        assert.equal(exit.reason, 'reload');
        assert.equal(exit.code, '0');
      }
      const fresh = [...raas.readyWorkers().values()];
      assert.equal(fresh.length, 2);
      for (const pid of fresh) assert.ok(!old.includes(pid));
      await served(load, 500);
      const report = await load.stop();
      t.diagnostic(`load: ${JSON.stringify({ ...report, samples: undefined })}`);
      assert.deepEqual(report.failures, {}, show(report));
    } finally {
      await load.stop();
    }
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });

  it('TTOU: slot 2 drains and exits (scale-down) failing no request of 40 keep-alive clients', async (t) => {
    // The app names the worker of every response (x-pid): the load must be on slot 2 for the
    // drain to be tested at all.
    const raas = await startRaas({
      args: ['--listen', 'http://127.0.0.1:0', '-w', '3', '--app', fixture('integ-plain-app.mjs')],
    });
    const [bound] = await raas.ready();
    const before = raas.readyWorkers();
    const third = before.get(2)!;
    // Clients reconnect every 25 requests, so slot 2 soon holds some of them whatever the
    // initial connect burst decided.
    const load = new HttpLoad(httpTarget(bound!), { concurrency: 40, reconnectEvery: 25 });
    try {
      await served(load, 500);
      await waitUntil('slot 2 holds keep-alive clients', () => load.clientsOn(third) > 0, 30_000);
      const held = load.clientsOn(third);
      const mark = raas.entries.length;
      raas.signal('SIGTTOU');
      const scale = await raas.waitForEvent(LOG.SCALE, { role: 'master' }, { after: mark });
      assert.deepEqual([scale.from, scale.to], ['3', '2']);
      await raas.waitForEvent(LOG.WORKER_DRAINING, { role: 'worker', pid: String(third) }, { after: mark });
      const exit = await raas.waitForEvent(LOG.WORKER_EXIT, { role: 'master', worker_pid: String(third) }, { after: mark });
      assert.equal(exit.slot, '2');
      assert.equal(exit.reason, 'scale-down');
      assert.equal(exit.code, '0');
      await waitUntil('slot 2 worker gone', () => !isAlive(third));
      await served(load, 500);
      const report = await load.stop();
      t.diagnostic(`load: ${JSON.stringify({ ...report, samples: undefined })}; slot 2 held ${held} clients at TTOU`);
      assert.deepEqual(report.failures, {}, show(report));
      assert.deepEqual(raas.readyWorkers(), new Map([[0, before.get(0)], [1, before.get(1)]]));
    } finally {
      await load.stop();
    }
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });
});
