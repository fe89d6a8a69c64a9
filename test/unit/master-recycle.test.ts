// Unit: recycling with an injected clock, randomness and fake workers. Each ready worker is sent
// its own `max-requests` limit (jitter included); a worker that asks to be recycled (it counted
// its requests up to that limit, or its zero-code app stopped listening) or whose beat passes
// `max-memory` gets a replacement in its slot and is told to drain (SIGQUIT) only once that
// replacement is ready; one recycle at a time, an ask waiting its turn; the beats' request
// counts alone recycle nothing; nothing while stopping; a reload supersedes a recycle under way.
// Runs in: the test runner process.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WorkerStats } from '../../src/ipc.js';
import { LOG } from '../../src/log.js';
import { drawRequestLimit } from '../../src/master/supervision/recycle.js';
import { harness, type FakeWorker } from './master-harness.js';

function stats(requests: number, rss = 50 * 1024 * 1024): WorkerStats {
  const latency = { buckets: [], sum: 0, count: 0 };
  return {
    // Two listeners: the limit counts requests over all of them.
    listeners: {
      'http://127.0.0.1:1': { protocol: 'http', requests: Math.ceil(requests / 2), connections: 1, errors: 0, latency },
      'line://127.0.0.1:2': { protocol: 'line', requests: Math.floor(requests / 2), connections: 1, errors: 0, latency },
    },
    inFlight: 0,
    openConnections: 1,
    rss,
    heapUsed: 0,
    elu: 0,
    loopDelayP99Ms: 0,
  };
}

function beat(worker: FakeWorker, requests: number, rss?: number): void {
  worker.events.message({ type: 'beat', stats: stats(requests, rss) });
}

/** What the worker sends when its own count reaches its limit (src/worker/runtime.ts). */
function askMaxRequests(worker: FakeWorker, requests: number, limit: number): void {
  worker.events.message({ type: 'recycle', reason: 'max-requests', details: { requests, limit } });
}

/** A fake Math.random that returns the given values in turn. */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

describe('recycling', () => {
  it('max-requests: the replacement spawns into the slot and the old worker gets SIGQUIT only once it is ready', async () => {
    const h = harness({ settings: { timeout: 60, maxRequests: 100 } });
    await h.tick();
    await h.readyAll();
    const [first, second] = h.spawned;
    assert.deepEqual(first!.messages, [{ type: 'request-limit', limit: 100 }], 'told its limit once ready');
    beat(first!, 150);
    beat(second!, 10);
    await h.tick(100);
    assert.equal(h.spawned.length, 2, 'a beat past the limit recycles nothing: the worker itself says when');

    askMaxRequests(first!, 100, 100);
    await h.settle();
    assert.equal(h.spawned.length, 3, 'a replacement is spawned at once, in the same turn');
    const replacement = h.spawned[2]!;
    assert.deepEqual([replacement.request.slot, replacement.request.generation], [0, 1], 'into the same slot and generation');
    const begin = h.events(LOG.RECYCLE_BEGIN);
    assert.deepEqual(
      begin.map((e) => [e.worker_pid, e.reason, e.requests, e.limit]),
      [[String(first!.pid), 'max-requests', '100', '100']],
    );
    for (let t = 0; t < 20; t++) {
      beat(first!, 150 + t);
      await h.tick(100);
    }
    assert.deepEqual(first!.signals, [], 'it serves on while its replacement boots');
    assert.equal(h.master.snapshot().ready, true, 'the master stays ready: the recycling worker serves its slot');
    assert.equal(h.spawned.length, 3, 'one replacement, not one per beat');

    await h.readyAll();
    assert.deepEqual(first!.signals, ['SIGQUIT'], 'drained once the replacement is ready');
    assert.deepEqual(second!.signals, []);
    assert.deepEqual(replacement.signals, []);
    const stop = h.events(LOG.RECYCLE_STOP);
    assert.deepEqual(stop.map((e) => [e.worker_pid, e.reason, e.replacement_pid]), [[String(first!.pid), 'recycle-max-requests', String(replacement.pid)]]);
    await h.exit(first!, 0);
    const exit = h.events(LOG.WORKER_EXIT).at(-1);
    assert.deepEqual([exit?.worker_pid, exit?.reason], [String(first!.pid), 'recycle-max-requests']);
    await h.tick(100);
    assert.equal(h.spawned.length, 3, 'the slot is full: nothing more is spawned');
  });

  it('recycles one worker at a time: a second one past its limit waits for the first replacement to be ready', async () => {
    const h = harness({ settings: { timeout: 60, maxRequests: 10 } });
    await h.tick();
    await h.readyAll();
    const [first, second] = h.spawned;
    askMaxRequests(first!, 10, 10);
    askMaxRequests(second!, 11, 10);
    await h.tick(100);
    await h.tick(500);
    assert.equal(h.spawned.length, 3, 'one replacement only');
    assert.equal(h.events(LOG.RECYCLE_BEGIN).length, 1);
    await h.readyAll();
    await h.tick(100);
    // The first recycled worker is draining; the second's ask, kept, now gets its turn.
    assert.equal(h.spawned.length, 4);
    assert.equal(h.spawned[3]!.request.slot, 1);
    assert.deepEqual(second!.signals, []);
    const second_begin = h.events(LOG.RECYCLE_BEGIN)[1]!;
    assert.deepEqual([second_begin.worker_pid, second_begin.requests, second_begin.limit], [String(second!.pid), '11', '10']);
    assert.ok(Number(second_begin.waited_ms) >= 600, `it waited its turn: ${second_begin.waited_ms} ms`);
    await h.readyAll();
    assert.deepEqual([first!.signals, second!.signals], [['SIGQUIT'], ['SIGQUIT']]);
  });

  it('with one worker, the replacement is ready before the only worker drains', async () => {
    const h = harness({ settings: { workers: 1, timeout: 60, maxRequests: 5 } });
    await h.tick();
    await h.readyAll();
    const [only] = h.spawned;
    askMaxRequests(only!, 5, 5);
    await h.tick(100);
    assert.equal(h.spawned.length, 2);
    assert.deepEqual(only!.signals, []);
    await h.readyAll();
    assert.deepEqual(only!.signals, ['SIGQUIT']);
  });

  it('max-requests-jitter: each worker draws its own limit at spawn', async () => {
    assert.equal(drawRequestLimit({ maxRequests: 0, maxRequestsJitter: 50 }, () => 0.7), null, 'off');
    assert.equal(drawRequestLimit({ maxRequests: 100, maxRequestsJitter: 0 }, () => 0.99), 100);
    assert.equal(drawRequestLimit({ maxRequests: 100, maxRequestsJitter: 50 }, () => 0), 100);
    assert.equal(drawRequestLimit({ maxRequests: 100, maxRequestsJitter: 50 }, () => 0.999999), 150, 'both ends included');

    const h = harness({ settings: { timeout: 60, maxRequests: 100, maxRequestsJitter: 50 }, system: { random: sequence(0, 0.999, 0.5) } });
    await h.tick();
    await h.readyAll();
    assert.deepEqual(h.master.supervisor.table.all().map((w) => w.requestLimit), [100, 150]);
    const [first, second] = h.spawned;
    assert.deepEqual([first!.messages, second!.messages], [[{ type: 'request-limit', limit: 100 }], [{ type: 'request-limit', limit: 150 }]]);
    askMaxRequests(first!, 100, 100);
    await h.tick(100);
    assert.deepEqual(h.events(LOG.RECYCLE_BEGIN).map((e) => [e.worker_pid, e.limit]), [[String(first!.pid), '100']]);
    assert.equal(h.spawned.length, 3);
    assert.equal(h.master.supervisor.table.all().at(-1)?.requestLimit, 125, 'the replacement draws its own');
  });

  it('max-memory: an RSS above the limit recycles the same way, with its own reason', async () => {
    const MiB = 1024 * 1024;
    const h = harness({ settings: { timeout: 60, maxMemory: 200 * MiB } });
    await h.tick();
    await h.readyAll();
    const [first, second] = h.spawned;
    beat(first!, 1_000_000, 200 * MiB);
    beat(second!, 1_000_000, 150 * MiB);
    await h.tick(100);
    assert.equal(h.spawned.length, 2, 'at the limit is not above it; max-requests is off');
    beat(second!, 1_000_000, 201 * MiB);
    await h.tick(100);
    assert.equal(h.spawned.length, 3);
    assert.equal(h.spawned[2]!.request.slot, 1);
    assert.deepEqual(h.events(LOG.RECYCLE_BEGIN).map((e) => [e.worker_pid, e.reason, e.rss, e.max_memory]), [
      [String(second!.pid), 'max-memory', String(201 * MiB), String(200 * MiB)],
    ]);
    assert.deepEqual(second!.signals, []);
    await h.readyAll();
    assert.deepEqual([first!.signals, second!.signals], [[], ['SIGQUIT']]);
    await h.exit(second!, 0);
    assert.equal(h.events(LOG.WORKER_EXIT).at(-1)?.reason, 'recycle-max-memory');
  });

  it('nothing is recycled while the master is stopping', async () => {
    const h = harness({ settings: { timeout: 60, maxRequests: 10, maxMemory: 1024 } });
    await h.tick();
    await h.readyAll();
    await h.signal('SIGQUIT');
    await h.tick(100);
    for (const w of h.spawned) {
      beat(w, 1000, 1024 * 1024);
      askMaxRequests(w, 10, 10);
    }
    for (let t = 0; t < 5; t++) await h.tick(100);
    assert.equal(h.spawned.length, 2, 'no replacement');
    assert.equal(h.events(LOG.RECYCLE_BEGIN).length, 0);
    for (const w of h.spawned) await h.exit(w, 0);
    assert.deepEqual(h.events(LOG.WORKER_EXIT).map((e) => e.reason), ['shutdown', 'shutdown']);
  });

  it('a stop during a recycle: the replacement and the recycled worker are both stopped', async () => {
    const h = harness({ settings: { timeout: 60, maxRequests: 10 } });
    await h.tick();
    await h.readyAll();
    askMaxRequests(h.spawned[0]!, 10, 10);
    await h.tick(100);
    assert.equal(h.spawned.length, 3);
    await h.signal('SIGQUIT');
    await h.tick(100);
    assert.deepEqual(h.spawned.map((w) => w.signals), [['SIGQUIT'], ['SIGQUIT'], ['SIGQUIT']]);
    assert.equal(h.events(LOG.RECYCLE_STOP).length, 0);
  });

  it('a reload supersedes a recycle under way: the new generation replaces every worker', async () => {
    const h = harness({ settings: { timeout: 60, maxRequests: 10 } });
    await h.tick();
    await h.readyAll();
    const [first, second] = h.spawned;
    askMaxRequests(first!, 10, 10);
    await h.tick(100);
    const recycleReplacement = h.spawned[2]!;
    await h.signal('SIGHUP');
    h.loads[0]!.resolve(h.resolved({ workers: 2, timeout: 60, maxRequests: 10 }));
    await h.tick();
    const gen2 = h.spawned.filter((w) => w.request.generation === 2);
    assert.equal(gen2.length, 2, 'the reload spawns its generation');
    for (const w of [first!, second!, recycleReplacement]) askMaxRequests(w, 10, 10); // no new recycle during a reload
    await h.tick(100);
    assert.equal(h.events(LOG.RECYCLE_BEGIN).length, 1);
    await h.readyAll();
    assert.equal(h.events(LOG.RELOAD_DONE).length, 1);
    for (const w of [first!, second!, recycleReplacement]) assert.deepEqual(w.signals, ['SIGQUIT']);
    for (const w of gen2) assert.deepEqual(w.signals, []);
    assert.equal(h.events(LOG.RECYCLE_STOP).length, 0, 'the reload stopped the recycled worker');
    await h.exit(first!, 0);
    assert.equal(h.events(LOG.WORKER_EXIT).at(-1)?.reason, 'reload');
  });

  it('not-listening: a worker whose zero-code app stopped listening goes before a request limit, the same graceful way', async () => {
    const h = harness({ settings: { timeout: 60, maxRequests: 10 } });
    await h.tick();
    await h.readyAll();
    const [first, second] = h.spawned;
    askMaxRequests(first!, 10, 10);
    second!.events.message({ type: 'recycle', reason: 'not-listening', details: { listen: 'http://127.0.0.1:1', not_listening_ms: 5000 } });
    await h.tick(100);
    assert.deepEqual(h.events(LOG.RECYCLE_BEGIN).map((e) => [e.worker_pid, e.reason, e.listen]), [[String(second!.pid), 'not-listening', 'http://127.0.0.1:1']]);
    assert.equal(h.spawned[2]!.request.slot, 1);
    await h.readyAll();
    assert.deepEqual([first!.signals, second!.signals], [[], ['SIGQUIT']]);
    await h.exit(second!, 0);
    assert.equal(h.events(LOG.WORKER_EXIT).at(-1)?.reason, 'recycle-not-listening');
    await h.tick(100);
    assert.equal(h.events(LOG.RECYCLE_BEGIN).at(-1)?.worker_pid, String(first!.pid), 'then the request limit has its turn');
  });
});
