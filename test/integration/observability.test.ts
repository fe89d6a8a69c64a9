// Integration: the master's stats, admin listener and `raas status` against a real master under
// load: counters equal what clients received (N sent, N read), survive a killed worker and never
// go backwards; promtool accepts /metrics; the accept-queue depth shows clients the workers have
// not accepted (TCP and Unix).
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import type * as net from 'node:net';
import { after, describe, it } from 'node:test';
import { LOG } from '../../src/log.js';
import { freeze } from '../helpers/chaos.js';
import type { StatusReport } from '../../src/master/stats/stats.js';
import { adminUrl, get, promtoolCheck, samples, sum } from '../helpers/admin.js';
import { served } from '../helpers/assertions.js';
import { connect, LineLoad, lineRequest, targetOf } from '../helpers/clients.js';
import { reverseRequest } from '../helpers/http-load.js';
import { CLI, reapAll, startRaas, tmpDir, waitUntil } from '../helpers/raas.js';

after(reapAll);

/** `n` line requests over `concurrency` clients; resolves with how many got the right reply. */
async function lineBatch(bound: string, n: number, concurrency: number): Promise<number> {
  const target = targetOf(bound);
  let next = 0;
  let ok = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const reply = await lineRequest(target, `req-${i}-héllo\n`).catch(() => '');
        if (reply === `olléh-${String(i).split('').reverse().join('')}-qer\n`) ok++;
      }
    }),
  );
  return ok;
}

async function httpBatch(bound: string, n: number, concurrency: number): Promise<number> {
  const base = bound.replace(/^http:\/\//, 'http://');
  let next = 0;
  let ok = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, client) => {
      while (next < n) {
        const { path: p, expected } = reverseRequest(client, next++);
        const res = await fetch(base + p, { signal: AbortSignal.timeout(10_000) }).catch(() => null);
        if (res && res.status === 200 && (await res.text()) === expected) ok++;
      }
    }),
  );
  return ok;
}

function control(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

async function report(admin: string): Promise<StatusReport> {
  return JSON.parse((await get(`${admin}/status`)).body) as StatusReport;
}

describe('observability', () => {
  it('counts what clients received, across a killed worker, in /metrics, /status and raas status', async () => {
    const dir = tmpDir();
    const pid = path.join(dir, 'raas.pid');
    const raas = await startRaas({
      args: ['-w', '2', '-l', '127.0.0.1:0', '-l', 'http://127.0.0.1:0', '-l', `unix:${dir}/line.sock`, '--admin', 'http://127.0.0.1:0', '--pid', pid],
    });
    const [tcp, httpL, unix] = (await raas.ready()) as [string, string, string];
    const admin = await adminUrl(raas);

    // Scraped all along, like a Prometheus: every total only ever grows.
    let scraping = true;
    const seen: number[] = [];
    // A scrape every 100 ms (like Prometheus's interval) until the test says stop.
    const scraper = waitUntil('the test to stop scraping', async () => {
      if (!scraping) return true;
      const m = await get(`${admin}/metrics`);
      assert.equal(m.status, 200);
      assert.match(m.type, /^text\/plain; version=0\.0\.4/);
      seen.push(sum(samples(m.body), 'raas_requests_total'));
      return false;
    }, 120_000, 100);
    const totals = async (): Promise<{ text: string; tcp: number; unix: number; http: number }> => {
      const text = (await get(`${admin}/metrics`)).body;
      const all = samples(text);
      return {
        text,
        tcp: sum(all, 'raas_requests_total', { listener: tcp, protocol: 'line' }),
        unix: sum(all, 'raas_requests_total', { listener: unix, protocol: 'line' }),
        http: sum(all, 'raas_requests_total', { listener: httpL, protocol: 'http' }),
      };
    };

    const [okTcp, okUnix, okHttp] = await Promise.all([lineBatch(tcp, 400, 20), lineBatch(unix, 100, 10), httpBatch(httpL, 300, 10)]);
    assert.deepEqual([okTcp, okUnix, okHttp], [400, 100, 300]);
    await waitUntil('the counters to reach what clients received', async () => {
      const t = await totals();
      return t.tcp >= 400 && t.unix >= 100 && t.http >= 300;
    }, 20_000);
    let t = await totals();
    assert.deepEqual([t.tcp, t.unix, t.http], [400, 100, 300], 'exactly N, not more');
    const all = samples(t.text);
    assert.equal(sum(all, 'raas_request_duration_seconds_count', { listener: tcp }), 400);
    assert.equal(sum(all, 'raas_request_duration_seconds_bucket', { listener: httpL, le: '+Inf' }), 300);
    assert.equal(sum(all, 'raas_connections_total', { listener: tcp }), 400);
    assert.equal(sum(all, 'raas_workers', { state: 'ready' }), 2);
    assert.ok(sum(all, 'raas_worker_resident_memory_bytes', { worker: '0' }) > 1e6);
    assert.equal(all.filter((s) => s.name === 'raas_event_loop_delay_seconds' && s.labels.quantile === '0.99').length, 2);
    const check = await promtoolCheck(t.text);
    assert.equal(check.code, 0, `promtool check metrics: ${check.output}`);

    // A worker killed by a signal: its slot's totals stay, the exit and its reason are recorded.
    const victim = (await report(admin)).workers.find((w) => w.slot === 0)!;
    const mark = raas.entries.length;
    process.kill(victim.pid!, 'SIGKILL');
    await raas.waitForEvent(LOG.WORKER_READY, { role: 'master', slot: '0' }, { after: mark, timeoutMs: 30_000 });
    await waitUntil('the exit in /status', async () => (await report(admin)).slots.find((s) => s.slot === 0)?.lastExit?.pid === victim.pid, 10_000);
    const after1 = await report(admin);
    const exit = after1.slots.find((s) => s.slot === 0)!.lastExit!;
    assert.equal(exit.reason, 'unexpected');
    assert.equal(exit.signal, 'SIGKILL');
    assert.equal(after1.restarts.unexpected, 1);
    assert.equal(sum(samples((await get(`${admin}/metrics`)).body), 'raas_worker_restarts_total', { reason: 'unexpected' }), 1);

    assert.equal(await lineBatch(tcp, 200, 20), 200);
    await waitUntil('the counters to include the second batch', async () => (await totals()).tcp >= 600, 20_000);
    t = await totals();
    assert.deepEqual([t.tcp, t.unix, t.http], [600, 100, 300]);

    scraping = false;
    await scraper;
    assert.ok(seen.length > 5, `scraped ${seen.length} times`);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! >= seen[i - 1]!, `a counter went backwards: ${seen.join(',')}`);

    // raas status: the table and the JSON (the same document as /status).
    const table = await control(['status', '--pid', pid]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^SLOT +STATE +PID +GEN +AGE +REQUESTS +REQ\/S/m);
    assert.equal(table.stdout.match(/^\d +ready +\d+ +1 /gm)?.length, 2, table.stdout);
    assert.match(table.stdout, new RegExp(`^${tcp.replace(/[.:/]/g, '\\$&')} +line +0 +\\d+ +\\d+ +600 +0 +- +- +- +- +-$`, 'm'));
    await waitUntil('the stats file to catch up', async () => {
      const json = await control(['status', '--json', '--pid', pid]);
      return (JSON.parse(json.stdout) as StatusReport).totals.requests === 1000;
    }, 10_000);
    const json = JSON.parse((await control(['status', '--json', '--pid', pid])).stdout) as StatusReport;
    assert.equal(json.schema, 1);
    assert.deepEqual(Object.keys(json), Object.keys(await report(admin)));
    assert.equal(json.master.pid, raas.pid);

    const notFound = await get(`${admin}/nope`);
    assert.equal(notFound.status, 404);
    const page = await get(`${admin}/`);
    assert.equal(page.status, 200);
    assert.match(page.type, /^text\/html/);
    assert.match(page.body, /<table id="workers">/);
    const post = await fetch(`${admin}/metrics`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
  });

  it('counts exactly what clients received through a reload under load (old workers send a last beat)', async () => {
    const raas = await startRaas({ args: ['-w', '2', '-l', '127.0.0.1:0', '--admin', 'http://127.0.0.1:0'] });
    const [tcp] = (await raas.ready()) as [string];
    const admin = await adminUrl(raas);
    const load = new LineLoad(targetOf(tcp), 20);
    await served(load, 200);
    const mark = raas.entries.length;
    raas.signal('SIGHUP');
    await raas.waitForEvent(LOG.RELOAD_DONE, { role: 'master' }, { after: mark, timeoutMs: 30_000 });
    await raas.waitFor('both old workers gone', () => raas.events(LOG.WORKER_EXIT, 'master').filter((e) => e.reason === 'reload').length === 2 || undefined, 30_000);
    await served(load, 200);
    const report = await load.stop();
    assert.equal(report.failed, 0, JSON.stringify(report.failures));
    const counted = async (): Promise<number> => sum(samples((await get(`${admin}/metrics`)).body), 'raas_requests_total', { listener: tcp });
    await waitUntil(`the counter to reach ${report.ok}`, async () => (await counted()) >= report.ok, 20_000);
    assert.equal(await counted(), report.ok);
    const restarts = samples((await get(`${admin}/metrics`)).body);
    assert.equal(sum(restarts, 'raas_worker_restarts_total', { reason: 'reload' }), 2);
    assert.equal(sum(restarts, 'raas_reloads_total', { outcome: 'done' }), 1);
    assert.equal(sum(restarts, 'raas_generation'), 2);
  });

  it('shows the accept-queue depth of TCP and Unix listeners while workers do not accept', async () => {
    const dir = tmpDir();
    const raas = await startRaas({
      args: ['-w', '1', '-l', '127.0.0.1:0', '-l', `unix:${dir}/q.sock`, '--admin', `http://unix:${dir}/admin.sock`, '--backlog', '100'],
    });
    const [tcp, unix] = (await raas.ready()) as [string, string];
    await raas.waitForEvent(LOG.ADMIN_LISTENING, { role: 'master' });
    const adminGet = (p: string): Promise<string> =>
      new Promise((resolve, reject) => {
        import('node:http').then(({ request }) => {
          const req = request({ socketPath: `${dir}/admin.sock`, path: p }, (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => (body += c));
            res.on('end', () => resolve(body));
          });
          req.on('error', reject);
          req.end();
        }, reject);
      });
    const depth = async (listener: string): Promise<number> =>
      sum(samples(await adminGet('/metrics')), 'raas_listen_queue_depth', { listener });
    const worker = raas.readyWorkers().get(0)!;
    const waiting: net.Socket[] = [];
    try {
      // SIGSTOP, and stopped for real (every thread, the native path's accept thread too) before anyone connects:
      // a connection accepted in the meantime would never show in the queue.
      assert.ok(await freeze(worker), 'the worker stopped');
      // Each client sends its line, as line clients do: the native line path's TCP_DEFER_ACCEPT
      // keeps a connection with no bytes yet out of the accept queue (and out of this gauge).
      const client = (target: ReturnType<typeof targetOf>): net.Socket => {
        const socket = connect(target);
        socket.on('error', () => {});
        socket.write('queued\n');
        return socket;
      };
      for (let i = 0; i < 7; i++) waiting.push(client(targetOf(tcp)));
      for (let i = 0; i < 4; i++) waiting.push(client(targetOf(unix)));
      await waitUntil('queue depth 7 (TCP) and 4 (Unix)', async () => (await depth(tcp)) === 7 && (await depth(unix)) === 4, 15_000);
      const m = samples(await adminGet('/metrics'));
      assert.equal(sum(m, 'raas_listen_queue_max', { listener: tcp }), 100);
      assert.equal(sum(m, 'raas_listen_queue_max', { listener: unix }), 100);
      assert.ok(sum(m, 'raas_listen_queue_peak', { listener: tcp }) >= 7);
    } finally {
      process.kill(worker, 'SIGCONT');
    }
    for (const s of waiting) s.destroy();
    await waitUntil('the queues to empty', async () => (await depth(tcp)) === 0 && (await depth(unix)) === 0, 15_000);
  });
});
