// Unit tests of the stats pipeline: the worker's collector, the master's totals (which survive
// worker exits), the queue-depth readers, the admin address and the Prometheus rendering
// (checked by promtool).
// Runs in: the test runner process.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { describe, it } from 'node:test';
import { renderMetrics } from '../../src/admin/metrics.js';
import { parseAdminAddress } from '../../src/config/admin-address.js';
import { LATENCY_BUCKETS_S, type WorkerStats } from '../../src/ipc.js';
import { nativeListenQueue, parseSsUnix, sampleQueues, tcpListenQueues } from '../../src/master/listeners/queue-depth.js';
import { createRequire } from 'node:module';
import { MasterStats } from '../../src/master/stats/stats.js';
import type { WorkerRecord } from '../../src/master/supervision/worker-table.js';
import type { IntervalHistogram } from 'node:perf_hooks';
import { BUSY_DELAY_RESOLUTION_MS, IDLE_DELAY_RESOLUTION_MS, WorkerStatsCollector } from '../../src/worker/stats.js';
import { promtoolCheck, samples, sum } from '../helpers/admin.js';
import { waitUntil } from '../helpers/raas.js';

function record(id: number, slot: number, pid: number): WorkerRecord {
  return {
    id, slot, generation: 1, handle: { pid } as WorkerRecord['handle'], state: 'ready',
    spawnedAt: 0, lastBeat: 0, stopOrder: null, stopReason: null, stopSentAt: 0, retiring: false, lastStats: null, drainStartedAt: null,
    requestLimit: null, recycleAsk: null, recycling: null, bootError: null,
  };
}

function beat(requests: number): WorkerStats {
  const buckets = new Array<number>(LATENCY_BUCKETS_S.length + 1).fill(0);
  buckets[0] = requests;
  return {
    listeners: { 'line://a "quoted" \\ name:1': { protocol: 'line', requests, connections: requests, errors: 0, latency: { buckets, sum: requests * 0.0001, count: requests } } },
    inFlight: 0, openConnections: 0, rss: 1e7, heapUsed: 1e6, elu: 0.1, loopDelayP99Ms: 1.5,
  };
}

describe('worker stats collector', () => {
  it('counts into the right latency bucket, errors and in-flight', () => {
    const c = new WorkerStatsCollector([{ fd: 3, protocol: 'line', address: 'l' }, { fd: 4, protocol: 'http', address: 'h' }]);
    c.accepted(1);
    c.started(1);
    c.answered(1, 0.003, false);
    c.started(1);
    c.answered(1, 20, true);
    c.started(1);
    c.started(1);
    c.abandoned(1);
    const s = c.snapshot();
    const h = s.listeners.h!;
    assert.equal(h.requests, 2);
    assert.equal(h.connections, 1);
    assert.equal(h.errors, 2);
    assert.equal(s.inFlight, 1);
    assert.equal(h.latency.buckets[LATENCY_BUCKETS_S.indexOf(0.005)], 1);
    assert.equal(h.latency.buckets[LATENCY_BUCKETS_S.length], 1, '+Inf');
    assert.equal(s.listeners.l!.requests, 0);
  });

  it('samples loop delay coarsely only while nothing is connected and nothing was served', () => {
    const c = new WorkerStatsCollector([{ fd: 3, protocol: 'http', address: 'h' }]);
    assert.equal(c.delayResolutionMs, BUSY_DELAY_RESOLUTION_MS, 'a new worker samples finely');
    c.snapshot();
    assert.equal(c.delayResolutionMs, IDLE_DELAY_RESOLUTION_MS, 'a beat with nothing to do');
    c.accepted(0);
    c.snapshot();
    assert.equal(c.delayResolutionMs, BUSY_DELAY_RESOLUTION_MS, 'a connection accepted since the last beat');
    c.snapshot();
    assert.equal(c.delayResolutionMs, IDLE_DELAY_RESOLUTION_MS);
    c.started(0);
    c.snapshot();
    assert.equal(c.delayResolutionMs, BUSY_DELAY_RESOLUTION_MS, 'a request in flight');
    c.snapshot();
    assert.equal(c.delayResolutionMs, BUSY_DELAY_RESOLUTION_MS, 'still in flight');
    c.answered(0, 0.001, false);
    c.snapshot();
    assert.equal(c.delayResolutionMs, BUSY_DELAY_RESOLUTION_MS, 'answered since the last beat');
    c.snapshot();
    assert.equal(c.delayResolutionMs, IDLE_DELAY_RESOLUTION_MS);
    // Open connections count even when they are quiet (a balancer's idle keep-alive pool).
    c.setServer(0, { _connections: 3 } as unknown as net.Server);
    c.snapshot();
    assert.equal(c.delayResolutionMs, BUSY_DELAY_RESOLUTION_MS, 'connections open');
  });

  it('natively served traffic keeps the fine sampler too', () => {
    const c = new WorkerStatsCollector([{ fd: 3, protocol: 'line', address: 'l' }]);
    let accepted = 0;
    c.external(0, () => ({ accepted, answered: accepted, errors: 0, open: 0, latency: { buckets: [], sum: 0 } }));
    c.snapshot();
    assert.equal(c.delayResolutionMs, IDLE_DELAY_RESOLUTION_MS);
    accepted = 5;
    c.snapshot();
    assert.equal(c.delayResolutionMs, BUSY_DELAY_RESOLUTION_MS);
  });

  it('still reports a blocked loop while sampling coarsely', async () => {
    const c = new WorkerStatsCollector([{ fd: 3, protocol: 'http', address: 'h' }]);
    c.snapshot();
    assert.equal(c.delayResolutionMs, IDLE_DELAY_RESOLUTION_MS);
    const sampler = (): IntervalHistogram => (c as unknown as { delay: IntervalHistogram }).delay;
    const blockMs = 2.5 * IDLE_DELAY_RESOLUTION_MS;
    // A sampler records from its second tick on: wait for one sample, so the block falls between ticks.
    const waitForSamples = (n: number): Promise<void> =>
      waitUntil(`the delay sampler to record ${n} samples`, () => sampler().count >= n, 15_000);
    await waitForSamples(1);
    const before = sampler().count;
    for (const end = Date.now() + blockMs; Date.now() < end; ); // the app's background job
    // Its late timer records the block as soon as the loop runs it again.
    await waitForSamples(before + 1);
    const p99 = c.snapshot().loopDelayP99Ms;
    assert.ok(p99 >= IDLE_DELAY_RESOLUTION_MS && p99 <= blockMs + 50, `p99 ${p99} ms for a ${blockMs} ms block`);
  });
});

describe('master stats', () => {
  it('keeps totals across a replaced worker; counters never go backwards', () => {
    const workers: WorkerRecord[] = [record(1, 0, 100)];
    const stats = new MasterStats(
      {
        clock: () => 0,
        workers: () => workers,
        listeners: () => [],
        master: () => ({ name: 'R', phase: 'running', generation: 1, target: 1, backlog: 1, reloads: { done: 0, aborted: 0, refused: 0 }, upgrades: { started: 0, failed: 0 } }),
      },
      null,
    );
    stats.beat(workers[0]!, beat(10));
    stats.beat(workers[0]!, beat(25));
    stats.exited(workers[0]!, 'timeout', null, 'SIGKILL');
    workers[0] = record(2, 0, 101);
    stats.beat(workers[0], beat(5)); // the replacement counts from zero
    const report = stats.report();
    assert.equal(report.totals.requests, 30);
    assert.equal(report.counters[0]!.requests, 30);
    assert.equal(report.slots[0]!.lastExit!.reason, 'timeout');
    assert.equal(report.slots[0]!.lastExit!.pid, 100);
    assert.deepEqual(report.restarts, { timeout: 1 });
    assert.equal(report.listeners[0]!.latency.counts[0], 30);
    assert.equal(report.workers[0]!.requests, 5);
  });
});

describe('prometheus rendering', () => {
  it('escapes label values; promtool accepts the text', async () => {
    const workers = [record(1, 0, 100)];
    const stats = new MasterStats(
      {
        clock: () => 0,
        workers: () => workers,
        listeners: () => [],
        master: () => ({ name: 'R', phase: 'running', generation: 1, target: 1, backlog: 1, reloads: { done: 1, aborted: 0, refused: 2 }, upgrades: { started: 0, failed: 0 } }),
      },
      null,
    );
    stats.beat(workers[0]!, beat(3));
    const text = renderMetrics(stats.report());
    const check = await promtoolCheck(text);
    assert.equal(check.code, 0, check.output);
    const all = samples(text);
    assert.equal(sum(all, 'raas_requests_total', { listener: 'line://a "quoted" \\ name:1', worker: '0' }), 3);
    assert.equal(sum(all, 'raas_reloads_total', { outcome: 'refused' }), 2);
    assert.equal(sum(all, 'raas_event_loop_delay_seconds', { quantile: '0.99' }), 0.0015);
  });
});

describe('queue depth readers', () => {
  it('finds a listening TCP socket of this process by inode, with its queue', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', 50, r));
    const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
    const inode = /socket:\[(\d+)\]/.exec(fs.readlinkSync(`/proc/self/fd/${fd}`))![1]!;
    server.on('connection', () => {}); // accepted at once: the queue drains
    const queues = await tcpListenQueues();
    assert.equal(queues.get(inode), 0);
    server.close();
  });

  it('reads a queue nobody accepts from: TCP_INFO through the addon, and /proc/net/tcp, agree', async () => {
    const native = nativeListenQueue();
    if (process.env.RAAS_NATIVE === '0') return assert.equal(native, null);
    assert.ok(native, 'the fdutil addon is built by npm ci');
    // A raw listening socket (backlog 511) that no libuv loop accepts from.
    const lineFast = createRequire(import.meta.url)('../../../build/Release/line_fast.node') as { listenLoopback(): [number, number] };
    const [fd, port] = lineFast.listenLoopback();
    const clients: net.Socket[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const c = net.connect(port, '127.0.0.1');
        clients.push(c);
        await new Promise<void>((r, j) => c.once('connect', r).once('error', j));
      }
      const inode = /socket:\[(\d+)\]/.exec(fs.readlinkSync(`/proc/self/fd/${fd}`))![1]!;
      assert.deepEqual(native(fd), [3, 511]);
      assert.equal((await tcpListenQueues()).get(inode), 3);
      assert.deepEqual((await sampleQueues([{ fd, unix: false }], 511)).get(fd), { depth: 3, max: 511 });
      const file = fs.openSync('/proc/self/status', 'r');
      try {
        assert.equal(native(file), undefined); // not a socket
      } finally {
        fs.closeSync(file);
      }
    } finally {
      for (const c of clients) c.destroy();
      fs.closeSync(fd);
    }
  });

  it('parses ss -xlnH, paths with spaces included', () => {
    const out = parseSsUnix('u_str LISTEN 3      511    /tmp/a b.sock 191887 * 0\nu_str ESTAB 0 0 * 1 * 2\n');
    assert.deepEqual([...out], [['191887', { depth: 3, max: 511 }]]);
  });
});

describe('admin address', () => {
  it('accepts host:port, unix paths; refuses https', () => {
    assert.deepEqual(parseAdminAddress('http://127.0.0.1:9200'), { kind: 'tcp', host: '127.0.0.1', port: 9200, spec: 'http://127.0.0.1:9200' });
    assert.equal(parseAdminAddress(':9200').spec, 'http://127.0.0.1:9200');
    assert.equal(parseAdminAddress('http://[::1]:9').spec, 'http://[::1]:9');
    assert.deepEqual(parseAdminAddress('http://unix:/run/raas.sock'), { kind: 'unix', path: '/run/raas.sock', spec: 'http://unix:/run/raas.sock' });
    assert.throws(() => parseAdminAddress('https://127.0.0.1:1'), /plain http/);
    assert.throws(() => parseAdminAddress('nonsense'), /expected/);
  });
});
