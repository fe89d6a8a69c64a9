// Integration: zero-code apps are counted like any other. Unchanged Express and Fastify apps that
// call listen() themselves serve N requests of every status class; once the stats settle, /metrics
// (raas_requests_total, raas_http_responses_total by class, the duration histogram), /status,
// `raas status` and --access-log show exactly N, per worker. In-flight requests show while held,
// WebSocket handshakes count as upgrades. An app that has not listened on every http listener is
// named with the listeners it was expected to take; a listen() on a port RAAS has no listener on
// is logged by RAAS at once, naming it and the --listen addresses.
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { LOG } from '../../src/log.js';
import type { StatusReport } from '../../src/master/stats/stats.js';
import { adminUrl, get, samples, sum, type Sample } from '../helpers/admin.js';
import { control } from '../helpers/control.js';
import { reapAll, startRaas, tmpDir, waitUntil, type RaasProcess } from '../helpers/raas.js';

after(reapAll);

const fixture = (name: string): string => fileURLToPath(new URL(`../../../test/fixtures/${name}`, import.meta.url));

/** What the test sends: per path, how many, and the status each must get. */
const PLAN = [
  { path: '/ok', n: 230, status: 200 },
  { path: '/moved', n: 40, status: 302 },
  { path: '/nope', n: 25, status: 404 },
  { path: '/boom', n: 15, status: 500 },
] as const;
const TOTAL = PLAN.reduce((n, p) => n + p.n, 0);

/** Sends the plan over `concurrency` keep-alive clients; fails on any unexpected status. */
async function sendPlan(base: string, concurrency: number): Promise<void> {
  const queue = PLAN.flatMap((p) => Array.from({ length: p.n }, () => p));
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let p = queue.pop(); p !== undefined; p = queue.pop()) {
        const res = await fetch(base + p.path, { redirect: 'manual', signal: AbortSignal.timeout(10_000) });
        await res.arrayBuffer();
        assert.equal(res.status, p.status, p.path);
      }
    }),
  );
}

async function metrics(admin: string): Promise<Sample[]> {
  return samples((await get(`${admin}/metrics`)).body);
}

async function statusOf(admin: string): Promise<StatusReport> {
  return JSON.parse((await get(`${admin}/status`)).body) as StatusReport;
}

/** Starts a zero-code app with an admin listener, a pid file and an access log. */
async function startCounted(appFile: string): Promise<{ raas: RaasProcess; base: string; admin: string; pid: string; access: string }> {
  const dir = tmpDir('raas-zero-count-');
  const pid = path.join(dir, 'raas.pid');
  const access = path.join(dir, 'access.log');
  const raas = await startRaas({
    args: [
      '--listen', 'http://127.0.0.1:0', '-w', '2', '--app', appFile,
      '--admin', 'http://127.0.0.1:0', '--pid', pid, '--access-log', access,
    ],
  });
  const [bound] = await raas.ready();
  return { raas, base: bound!, admin: await adminUrl(raas), pid, access };
}

describe('zero-code apps are counted like any other', () => {
  for (const [framework, file] of [['Express', 'zero-counted-express.mjs'], ['Fastify', 'zero-counted-fastify.mjs']] as const) {
    it(`${framework}: N requests sent are N counted in /metrics by class and worker, /status, raas status and the access log`, async () => {
      const { raas, base, admin, pid, access } = await startCounted(fixture(file));
      await sendPlan(base, 8);

      // Settled: the workers' next beats carry every count; then they must stay exact.
      let all: Sample[] = [];
      await waitUntil(`raas_requests_total reaches ${TOTAL}`, async () => {
        all = await metrics(admin);
        return sum(all, 'raas_requests_total', { protocol: 'http' }) >= TOTAL;
      }, 15_000);
      // And stay there: a later report (rebuilt at most once a second) counts none twice.
      const first = (await statusOf(admin)).time;
      await waitUntil('a later report', async () => (await statusOf(admin)).time !== first, 10_000);
      all = await metrics(admin);
      assert.equal(sum(all, 'raas_requests_total', { protocol: 'http' }), TOTAL);
      const byClass = (cls: string): number => sum(all, 'raas_http_responses_total', { class: cls });
      assert.deepEqual(
        { '1xx': byClass('1xx'), '2xx': byClass('2xx'), '3xx': byClass('3xx'), '4xx': byClass('4xx'), '5xx': byClass('5xx') },
        { '1xx': 0, '2xx': 230, '3xx': 40, '4xx': 25, '5xx': 15 },
      );
      assert.equal(sum(all, 'raas_request_errors_total', { protocol: 'http' }), 15, '5xx are the errors');
      assert.equal(sum(all, 'raas_request_duration_seconds_count', { protocol: 'http' }), TOTAL);
      // Per worker: both slots' series exist, and their classes add up to their requests.
      for (const worker of ['0', '1']) {
        const requests = sum(all, 'raas_requests_total', { protocol: 'http', worker });
        assert.equal(sum(all, 'raas_http_responses_total', { worker }), requests, `worker ${worker}`);
      }
      assert.equal(sum(all, 'raas_http_upgrades_total'), 0);

      const report = await statusOf(admin);
      assert.equal(report.totals.requests, TOTAL);
      const listener = report.listeners.find((l) => l.protocol === 'http')!;
      assert.deepEqual(listener.http, { statusClasses: { '1xx': 0, '2xx': 230, '3xx': 40, '4xx': 25, '5xx': 15 }, upgrades: 0 });

      // `raas status` reads the stats file, written once a second: wait for it to catch up.
      await waitUntil('raas status shows every request', async () => {
        const json = await control(['status', '--json', '--pid', pid]);
        return json.code === 0 && (JSON.parse(json.stdout) as StatusReport).totals.requests === TOTAL;
      }, 10_000);
      const table = await control(['status', '--pid', pid]);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /2XX\s+3XX\s+4XX\s+5XX\s+UPGRADES/);
      assert.match(table.stdout, new RegExp(`\\s${TOTAL}\\s+15\\s+230\\s+40\\s+25\\s+15\\s+0\\s*$`, 'm'));

      // The access log: one line per request, with its status.
      const lines = fs.readFileSync(access, 'utf8').split('\n').filter(Boolean);
      assert.equal(lines.length, TOTAL);
      const statuses = new Map<string, number>();
      for (const line of lines) {
        const m = /"GET (\/\w+) HTTP\/1\.1" (\d{3}) /.exec(line);
        assert.ok(m, line);
        statuses.set(`${m[1]} ${m[2]}`, (statuses.get(`${m[1]} ${m[2]}`) ?? 0) + 1);
      }
      assert.deepEqual(Object.fromEntries(statuses), Object.fromEntries(PLAN.map((p) => [`${p.path} ${p.status}`, p.n])));

      raas.signal('SIGQUIT');
      assert.equal((await raas.waitExit()).code, 0);
    });
  }

  it('in-flight requests show while the app holds them; WebSocket handshakes count as upgrades, not requests', async () => {
    const { raas, base, admin } = await startCounted(fixture('zero-counted-express.mjs'));
    const held = [1, 2, 3].map(() => fetch(`${base}/hold`, { signal: AbortSignal.timeout(20_000) }));
    await waitUntil('three requests in flight in /metrics', async () => sum(await metrics(admin), 'raas_worker_in_flight_requests') === 3, 15_000);
    assert.equal((await statusOf(admin)).workers.reduce((n, w) => n + (w.inFlight ?? 0), 0), 3);
    // Two workers hold them: release on each until all three are answered.
    const answered = Promise.all(held.map(async (p) => (await p).text()));
    let done = false;
    void answered.then(() => (done = true));
    // A new connection each time (a keep-alive one would reach the same worker every time).
    await waitUntil('the held requests released', async () => {
      await new Promise<void>((resolve, reject) => {
        http.get(`${base}/release`, { agent: false }, (res) => res.resume().on('end', resolve)).on('error', reject);
      });
      return done;
    }, 15_000);
    assert.deepEqual(await answered, ['released', 'released', 'released']);
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);

    const ws = await startCounted(fixture('zero-ws.mjs'));
    const url = ws.base.replace(/^http:/, 'ws:');
    const sockets = await Promise.all(
      [1, 2, 3].map(
        () =>
          new Promise<WebSocket>((resolve, reject) => {
            const socket = new WebSocket(url);
            socket.once('message', () => resolve(socket));
            socket.once('error', reject);
          }),
      ),
    );
    for (const s of ['a', 'b']) assert.equal(await (await fetch(`${ws.base}/?s=${s}`)).text(), s);
    await waitUntil('3 upgrades and 2 requests counted', async () => {
      const all = await metrics(ws.admin);
      return sum(all, 'raas_http_upgrades_total') === 3 && sum(all, 'raas_requests_total', { protocol: 'http' }) === 2;
    }, 15_000);
    const listener = (await statusOf(ws.admin)).listeners.find((l) => l.protocol === 'http')!;
    assert.equal(listener.http?.upgrades, 3);
    assert.equal(listener.requests, 2);
    for (const s of sockets) s.close();
    ws.raas.signal('SIGQUIT');
    assert.equal((await ws.raas.waitExit()).code, 0);
  });

  it('an app that has not listened on every http listener is named, with the listeners it was expected to take', async () => {
    const app = fixture('zero-half-listening.mjs');
    const sock = path.join(tmpDir('raas-zero-half-'), 'second.sock');
    const raas = await startRaas({
      args: ['--listen', 'http://127.0.0.1:0', '--listen', `http://unix:${sock}`, '-w', '1', '--app', app, '--boot-timeout', '20'],
      waitReady: false,
    });
    // Warned 5 s after the app loaded (boot-timeout 20 s leaves a slow start on a loaded machine
    // time to get there before the master gives up on the worker).
    const line = await raas.waitForEvent(LOG.APP_NOT_LISTENING, { role: 'worker' }, { timeoutMs: 30_000 });
    assert.equal(line.app, app);
    const expected = line.expected!.split(' ');
    assert.equal(expected.length, 2);
    assert.deepEqual(line.waiting!.split(' '), [expected[1]], 'the first listener is taken (listen(PORT)), the second is waited for');
    // Said within boot-timeout: before the master gives up on the worker.
    const timeout = raas.entries.findIndex((e) => e.event === LOG.WORKER_BOOT_TIMEOUT);
    assert.ok(timeout === -1 || timeout > raas.entries.indexOf(line), 'named before the boot timeout');
    raas.signal('SIGQUIT');
    await raas.waitExit();
  });

  it('a listen() on a port no RAAS listener has is logged by RAAS at once, naming it and the --listen addresses', async () => {
    const raas = await startRaas({
      args: ['--listen', 'http://127.0.0.1:0', '-w', '1', '--app', fixture('zero-unmatched.mjs'), '--boot-timeout', '5'],
      waitReady: false,
    });
    const refused = await raas.waitForEvent(LOG.APP_LISTEN_REFUSED, { role: 'worker' }, { timeoutMs: 15_000 });
    assert.equal(refused.level, 'error');
    assert.equal(refused.app, fixture('zero-unmatched.mjs'));
    const [, port] = /^port (\d+)$/.exec(refused.asked ?? '') ?? [];
    assert.ok(port, refused.asked);
    // The app asked for RAAS's port + 1; --listen is what the master bound (port 0 resolved).
    assert.match(refused.listen!, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(Number(port), Number(refused.listen!.split(':').pop()) + 1);
    assert.match(refused.why!, /has no http:\/\/ listener there/);
    raas.signal('SIGQUIT');
    await raas.waitExit();
  });
});
