// Integration: elastic workers (`max-workers`) under real load through real processes. A
// CPU-bound HTTP handler (test/fixtures/elastic-burn-app.mjs) saturates one worker: the master
// adds a second within seconds, then a third (one at a time, never past max-workers); once the
// load stops it drains them one at a time after `scale-down-after`. A steady load of half a
// worker scales nothing. No request fails throughout. /metrics and `raas status` show it.
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { LOG } from '../../src/log.js';
import type { StatusReport } from '../../src/master/stats/stats.js';
import { adminUrl, get, samples } from '../helpers/admin.js';
import { control } from '../helpers/control.js';
import { httpRequest, httpTarget, type HttpTarget } from '../helpers/http-load.js';
import { reapAll, startRaas, tmpDir, waitUntil, type RaasProcess } from '../helpers/raas.js';

after(reapAll);

const APP = fileURLToPath(new URL('../../../test/fixtures/elastic-burn-app.mjs', import.meta.url));

/** Counts what a load got back: every reply must be 200 "burned"; the pids that answered. */
class Replies {
  ok = 0;
  readonly failures: string[] = [];
  readonly pids = new Set<string>();

  async send(target: HttpTarget, burnMs: number): Promise<void> {
    try {
      const reply = await httpRequest(target, { path: `/burn?ms=${burnMs}`, timeoutMs: 20_000 });
      if (reply.status === 200 && reply.text === 'burned') {
        this.ok += 1;
        this.pids.add(String(reply.headers['x-pid']));
      } else this.failures.push(`${reply.status} ${reply.text.slice(0, 80)}`);
    } catch (err) {
      this.failures.push(String((err as Error).message));
    }
  }
}

/** `clients` closed loops of GET /burn?ms=burnMs, a new connection each: as busy as they can make it. */
class BurnLoad extends Replies {
  private running = true;
  private readonly loops: Promise<void>[];

  constructor(target: HttpTarget, clients: number, burnMs: number) {
    super();
    this.loops = Array.from({ length: clients }, async () => {
      while (this.running) await this.send(target, burnMs);
    });
  }

  async stop(): Promise<{ ok: number; failures: string[] }> {
    this.running = false;
    await Promise.all(this.loops);
    return { ok: this.ok, failures: this.failures };
  }
}

/**
 * An open-loop load: one request of `burnMs` every `everyMs` by the clock, whatever the replies
 * take, so that a slow client on a loaded machine still offers the same share of a worker
 * (a late timer sends the requests it owes at once).
 */
class SteadyLoad extends Replies {
  private readonly timer: NodeJS.Timeout;
  private readonly pending = new Set<Promise<void>>();
  private sent = 0;

  constructor(target: HttpTarget, burnMs: number, everyMs: number) {
    super();
    const began = Date.now();
    this.timer = setInterval(() => {
      const owed = Math.floor((Date.now() - began) / everyMs) - this.sent;
      for (let i = 0; i < Math.min(owed, 5); i++) {
        this.sent += 1;
        const p = this.send(target, burnMs).finally(() => this.pending.delete(p));
        this.pending.add(p);
      }
      if (owed > 5) this.sent += owed - 5; // more than 5 behind: skip, never a burst that changes the load's shape
    }, everyMs / 2);
  }

  async stop(): Promise<{ ok: number; failures: string[] }> {
    clearInterval(this.timer);
    await Promise.all([...this.pending]);
    return { ok: this.ok, failures: this.failures };
  }
}

async function start(args: string[]): Promise<{ raas: RaasProcess; target: HttpTarget; admin: string; pid: string }> {
  const pid = path.join(tmpDir(), 'raas.pid');
  const raas = await startRaas({
    args: ['--app', APP, '-l', 'http://127.0.0.1:0', '--admin', 'http://127.0.0.1:0', '--pid', pid, ...args],
  });
  const [http] = await raas.ready();
  return { raas, target: httpTarget(http!), admin: await adminUrl(raas), pid };
}

const scaleLines = (raas: RaasProcess) => raas.events(LOG.ELASTIC_SCALE, 'master');

describe('elastic workers (max-workers)', () => {
  it('CPU-bound load: a second worker within seconds, then a third, none past max; drained one at a time after it', async (t) => {
    const { raas, target, admin, pid } = await start(['-w', '1', '--max-workers', '3', '--scale-down-after', '3']);
    const load = new BurnLoad(target, 3, 25);
    t.after(() => load.stop());
    const began = Date.now();
    const up = await raas.waitForEvent(LOG.ELASTIC_SCALE, { role: 'master', direction: 'up', from: '1', to: '2' }, { timeoutMs: 20_000 });
    const secondAfterMs = Date.now() - began;
    t.diagnostic(`second worker wanted after ${secondAfterMs} ms (elu=${up.elu}, for_ms=${up.for_ms})`);
    assert.equal(up.reason, 'busy');
    assert.ok(secondAfterMs < 10_000, `the second worker took ${secondAfterMs} ms`);
    await raas.waitForEvent(LOG.WORKER_READY, { role: 'master', slot: '1' }, { timeoutMs: 15_000 });
    await raas.waitForEvent(LOG.ELASTIC_SCALE, { role: 'master', direction: 'up', from: '2', to: '3' }, { timeoutMs: 20_000 });
    await raas.waitForEvent(LOG.WORKER_READY, { role: 'master', slot: '2' }, { timeoutMs: 15_000 });
    await waitUntil('the load served by 3 workers', () => load.pids.size === 3, 15_000);

    // /metrics and the stats file behind `raas status` are rebuilt once a second: wait for the decision to show.
    let metrics: ReturnType<typeof samples> = [];
    const value = (name: string, labels: Record<string, string> = {}) =>
      metrics.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    await waitUntil('/metrics to show 3 workers wanted', async () => {
      metrics = samples((await get(`${admin}/metrics`)).body);
      return value('raas_workers_target') === 3 && value('raas_workers', { state: 'ready' }) === 3;
    }, 10_000);
    assert.equal(value('raas_workers_bound', { bound: 'max' }), 3);
    assert.equal(value('raas_workers_bound', { bound: 'min' }), 1);
    assert.equal(value('raas_scale_decisions_total', { direction: 'up' }), 2);
    assert.equal(value('raas_scale_decisions_total', { direction: 'down' }), 0);
    let status = { code: 0, stdout: '', stderr: '' };
    await waitUntil('raas status to show both steps up', async () => {
      status = await control(['status', '--pid', pid]);
      return status.code !== 0 || /^workers: elastic 1\.\.3 up=2 /m.test(status.stdout);
    }, 10_000);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^workers: elastic 1\.\.3 up=2 down=0 held=0; last up 2->3 \((busy|queue)\)/m);

    const served = await load.stop();
    assert.deepEqual(served.failures, []);
    const stopped = Date.now();
    const down = await raas.waitForEvent(LOG.ELASTIC_SCALE, { role: 'master', direction: 'down', from: '2', to: '1' }, { timeoutMs: 30_000 });
    assert.equal(down.reason, 'low-load');
    const downs = scaleLines(raas).filter((e) => e.direction === 'down');
    assert.deepEqual(downs.map((e) => `${e.from}->${e.to}`), ['3->2', '2->1']);
    // Each step waited its own scale-down-after of low load.
    for (const d of downs) assert.ok(Number(d.for_ms) >= 3000, JSON.stringify(d));
    t.diagnostic(`back to 1 worker ${Date.now() - stopped} ms after the load stopped; ${served.ok} requests, 0 failed`);
    await raas.waitForEvent(LOG.WORKER_EXIT, { role: 'master', slot: '1', reason: 'scale-down' }, { timeoutMs: 15_000 });
    const exits = raas.events(LOG.WORKER_EXIT, 'master');
    assert.deepEqual(exits.map((e) => [e.slot, e.reason, e.code]), [['2', 'scale-down', '0'], ['1', 'scale-down', '0']]);
    assert.deepEqual(scaleLines(raas).map((e) => `${e.direction} ${e.from}->${e.to}`), ['up 1->2', 'up 2->3', 'down 3->2', 'down 2->1']);
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
    assert.deepEqual(raas.errorLines(), []);
  });

  it('a steady load of half a worker scales nothing, and fails nothing', async (t) => {
    const { raas, target, admin } = await start(['-w', '1', '--max-workers', '3', '--scale-down-after', '2']);
    // 50 ms of a worker's loop every 100 ms: half a worker (long requests, so that the
    // per-connection overhead, slower on a loaded machine, adds little to it).
    const load = new SteadyLoad(target, 50, 100);
    t.after(() => load.stop());
    const elus: number[] = [];
    const until = Date.now() + 9_000;
    await waitUntil('9 s of half-worker load', async () => {
      const report = JSON.parse((await get(`${admin}/status`)).body) as StatusReport;
      if (report.scaling.elu !== null) elus.push(report.scaling.elu);
      return Date.now() >= until;
    }, 20_000);
    const served = await load.stop();
    assert.deepEqual(served.failures, []);
    // The load really was about half a worker (so that the test means something).
    const sorted = [...elus].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
    t.diagnostic(`median ELU ${median} over ${elus.length} samples; ${served.ok} requests`);
    assert.ok(median >= 0.3 && median <= 0.8, `median ELU ${median}: ${elus.join(' ')}`);
    assert.deepEqual(scaleLines(raas), [], `ELU seen: ${elus.join(' ')}`);
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });
});
