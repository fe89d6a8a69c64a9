// Unit: elastic workers (`max-workers`) with an injected clock and fake workers that beat the
// event-loop utilisation a test chooses: one worker at a time up when saturated for the spell,
// down after `scale-down-after` of low load, no flapping at a steady half-worker load, never past
// the memory it can see, never during a reload or a stop; TTIN and TTOU move the bounds. The
// policy alone (supervision/elastic.ts) for what needs an accept queue.
// Runs in: the test runner process.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SettingError } from '../../src/config/errors.js';
import { settingsFrom } from '../../src/config/load.js';
import type { WorkerStats } from '../../src/ipc.js';
import { Logger } from '../../src/log.js';
import { LOG } from '../../src/log.js';
import { firstDesired, withTarget } from '../../src/master/desired.js';
import { Elastic, UP_AFTER_MS } from '../../src/master/supervision/elastic.js';
import { cgroupRoom, memoryAvailable, parseMemAvailable } from '../../src/master/supervision/free-memory.js';
import type { WorkerRecord } from '../../src/master/supervision/worker-table.js';
import { harness, settings, type FakeWorker } from './master-harness.js';

const MiB = 1024 * 1024;

function stats(elu: number, rss = 50 * MiB): WorkerStats {
  return { listeners: {}, inFlight: 0, openConnections: 0, rss, heapUsed: 0, elu, loopDelayP99Ms: 0 };
}

type H = ReturnType<typeof harness>;

/** Workers not told to stop, beating `elu` each (a function of how many serve). */
function serving(h: H): FakeWorker[] {
  return h.live();
}

/** Runs the fake clock for `ms` in beats of 500 ms (the harness's timeout 2 s gives that interval). */
async function run(h: H, ms: number, elu: (n: number) => number, rss?: number): Promise<void> {
  for (let t = 0; t < ms; t += 250) {
    if (t % 500 === 0) {
      const ws = serving(h);
      for (const w of ws) w.events.message({ type: 'beat', stats: stats(elu(ws.length), rss) });
    }
    await h.tick(250);
  }
}

async function start(over: Parameters<typeof settings>[0]): Promise<H> {
  const h = harness({ settings: over });
  await h.tick();
  await h.readyAll();
  return h;
}

const scaled = (h: H) => h.events(LOG.ELASTIC_SCALE).map((e) => `${e.direction} ${e.from}->${e.to} ${e.reason}`);

describe('elastic workers', () => {
  it('a saturated worker gets a second within the spell, one at a time, up to max-workers', async () => {
    const h = await start({ workers: 1, maxWorkers: 3 });
    await run(h, UP_AFTER_MS - 500, () => 1);
    assert.equal(h.master.desired.target, 1, 'not before the spell has lasted');
    await run(h, 1000, () => 1);
    assert.equal(h.master.desired.target, 2);
    assert.deepEqual(h.spawned.map((w) => w.request.slot), [0, 1]);
    // While the new worker boots the pool is settling: nothing more, however busy.
    await run(h, 5000, () => 1);
    assert.equal(h.master.desired.target, 2);
    await h.readyAll();
    await run(h, UP_AFTER_MS + 1000, () => 1);
    await h.readyAll();
    await run(h, 10_000, () => 1);
    assert.equal(h.master.desired.target, 3, 'never past max-workers');
    assert.deepEqual(scaled(h), ['up 1->2 busy', 'up 2->3 busy']);
    assert.deepEqual(h.spawned.map((w) => w.signals), [[], [], []]);
  });

  it('after scale-down-after of low load, one worker drains at a time (QUIT), never below workers', async () => {
    const h = await start({ workers: 1, maxWorkers: 3, scaleDownAfter: 5 });
    await run(h, 3000, () => 1);
    await h.readyAll();
    await run(h, 3000, () => 1);
    await h.readyAll();
    assert.equal(h.master.desired.target, 3);
    await run(h, 4500, () => 0.05);
    assert.equal(h.master.desired.target, 3, 'the load must stay low for the whole scale-down-after');
    await run(h, 1000, () => 0.05);
    assert.equal(h.master.desired.target, 2);
    assert.deepEqual(h.spawned.map((w) => w.signals), [[], [], ['SIGQUIT']], 'the highest slot drains gracefully');
    await h.exit(h.spawned[2]!, 0);
    await run(h, 4000, () => 0.05);
    assert.equal(h.master.desired.target, 2, 'each step waits a whole scale-down-after again');
    await run(h, 1500, () => 0.05);
    assert.equal(h.master.desired.target, 1);
    await h.exit(h.spawned[1]!, 0);
    await run(h, 20_000, () => 0);
    assert.equal(h.master.desired.target, 1, 'never below workers');
    assert.deepEqual(scaled(h), ['up 1->2 busy', 'up 2->3 busy', 'down 3->2 low-load', 'down 2->1 low-load']);
    assert.equal(h.events(LOG.WORKER_EXIT).at(-1)?.reason, 'scale-down');
  });

  it('a steady load of half a worker never flaps: two workers come down to one, which stays', async () => {
    const h = await start({ workers: 1, maxWorkers: 4, scaleDownAfter: 2 });
    await run(h, 3000, () => 1);
    await h.readyAll();
    assert.equal(h.master.desired.target, 2);
    // Half a worker's load spread over n workers.
    await run(h, 60_000, (n) => 0.5 / n);
    assert.equal(h.master.desired.target, 1);
    assert.deepEqual(scaled(h), ['up 1->2 busy', 'down 2->1 low-load']);
    // Just above the line at two (0.31 each: one worker would be at 62 %) it stays at two.
    const k = await start({ workers: 1, maxWorkers: 4, scaleDownAfter: 2 });
    await run(k, 3000, () => 1);
    await k.readyAll();
    await run(k, 60_000, () => 0.31);
    assert.equal(k.master.desired.target, 2);
    assert.deepEqual(scaled(k), ['up 1->2 busy']);
  });

  it('a worker whose beats stop counts as fully busy', async () => {
    const h = await start({ workers: 2, maxWorkers: 3, timeout: 60 });
    const [first, second] = h.spawned;
    for (let t = 0; t < 6000; t += 250) {
      if (t % 1000 === 0) first!.events.message({ type: 'beat', stats: stats(0.75) });
      if (t === 0) second!.events.message({ type: 'beat', stats: stats(0.8) });
      await h.tick(250);
    }
    assert.equal(h.master.desired.target, 3, 'the silent one counts as 1: a mean of 0.875');
  });

  it('never grows past the memory it can see: two workers\' worth must be free', async () => {
    let free = 90 * MiB;
    const h = harness({ settings: { workers: 1, maxWorkers: 3 }, system: { memoryAvailable: () => free } });
    await h.tick();
    await h.readyAll();
    await run(h, 10_000, () => 1, 50 * MiB);
    assert.equal(h.master.desired.target, 1);
    const held = h.events(LOG.ELASTIC_HELD);
    assert.equal(held.length, 1, 'logged once per saturated spell');
    assert.deepEqual([held[0]!.reason, held[0]!.available_bytes, held[0]!.worker_bytes], ['memory', String(90 * MiB), String(50 * MiB)]);
    free = 100 * MiB;
    await run(h, 1000, () => 1, 50 * MiB);
    assert.equal(h.master.desired.target, 2);

    // With max-memory, a worker may grow to it: that is what one more needs.
    const m = harness({ settings: { workers: 1, maxWorkers: 3, maxMemory: 200 * MiB }, system: { memoryAvailable: () => 300 * MiB } });
    await m.tick();
    await m.readyAll();
    await run(m, 5000, () => 1, 10 * MiB);
    assert.equal(m.master.desired.target, 1);
    assert.equal(m.events(LOG.ELASTIC_HELD)[0]?.worker_bytes, String(200 * MiB));
  });

  it('never scales during a reload or a stop', async () => {
    const h = await start({ workers: 1, maxWorkers: 3 });
    await h.signal('SIGHUP'); // the config load hangs: the reload stays busy
    await run(h, 10_000, () => 1);
    assert.equal(h.master.desired.target, 1);
    h.loads[0]!.resolve(h.resolved({ workers: 1, maxWorkers: 3 }));
    await h.tick();
    await h.readyAll();
    await run(h, 1000, () => 1);
    // The old generation's worker leaves once the new one is ready; then a new spell.
    for (const w of h.spawned.filter((x) => x.request.generation === 1)) await h.exit(w, 0);
    await run(h, 3000, () => 1);
    assert.equal(h.master.desired.target, 2, 'after the reload it scales again');
    await h.readyAll();
    await h.signal('SIGQUIT');
    await run(h, 10_000, () => 1);
    assert.equal(h.master.desired.target, 2);
    assert.deepEqual(scaled(h), ['up 1->2 busy']);
  });

  it('TTIN and TTOU move both bounds, and the count with them; WINCH sets both to 0', async () => {
    const h = await start({ workers: 2, maxWorkers: 4 });
    await h.signal('SIGTTIN');
    assert.deepEqual([h.master.desired.target, h.master.desired.bounds], [3, { min: 3, max: 5 }]);
    await h.signal('SIGTTOU');
    await h.signal('SIGTTOU');
    await h.signal('SIGTTOU');
    assert.deepEqual([h.master.desired.target, h.master.desired.bounds], [0, { min: 0, max: 2 }]);
    await h.signal('SIGTTOU');
    await h.signal('SIGTTOU');
    await h.signal('SIGTTOU');
    assert.deepEqual([h.master.desired.target, h.master.desired.bounds], [0, { min: 0, max: 0 }]);
    await h.signal('SIGTTIN');
    assert.deepEqual([h.master.desired.target, h.master.desired.bounds], [1, { min: 1, max: 1 }]);
    const f = await start({ workers: 2, maxWorkers: 4 });
    await f.signal('SIGWINCH');
    assert.deepEqual([f.master.desired.target, f.master.desired.bounds], [0, { min: 0, max: 0 }]);
    const scale = h.events(LOG.SCALE).at(-1)!;
    assert.deepEqual([scale.from, scale.to, scale.min, scale.max], ['0', '1', '1', '1']);
  });

  it('with a lower bound of 0 (TTOU), the policy itself never takes the last worker', async () => {
    const h = await start({ workers: 1, maxWorkers: 3, scaleDownAfter: 2 });
    await run(h, 3000, () => 1);
    await h.readyAll();
    await h.signal('SIGTTOU');
    assert.deepEqual([h.master.desired.target, h.master.desired.bounds], [1, { min: 0, max: 2 }]);
    await run(h, 30_000, () => 0);
    assert.equal(h.master.desired.target, 1);
  });

  it('a fixed pool (max-workers 0) never scales', async () => {
    const h = await start({ workers: 1, maxWorkers: 0 });
    await run(h, 20_000, () => 1);
    assert.equal(h.master.desired.target, 1);
    assert.deepEqual(scaled(h), []);
  });
});

describe('the elastic policy and the accept queue', () => {
  function policy(waiting: number | null, elu: number) {
    let now = 0;
    const desired = withTarget(firstDesired(settings({ workers: 1, maxWorkers: 4, timeout: 30 }), {}, []), 2);
    const workers = [0, 1].map((slot) => ({ slot, generation: 1, state: 'ready', lastBeat: 0, lastStats: stats(elu) }) as unknown as WorkerRecord);
    const elastic = new Elastic({
      system: { clock: () => now, memoryAvailable: () => null },
      log: new Logger({ role: 'master' }, null),
      desired: () => desired,
      workers: () => workers,
      waiting: () => waiting,
      hold: () => null,
    });
    const after = (ms: number): number | null => {
      let out: number | null = null;
      for (let t = 0; t < ms; t += 100) {
        now += 100;
        for (const w of workers) w.lastBeat = now;
        out ??= elastic.advance();
      }
      return out;
    };
    return { elastic, after };
  }

  it('connections waiting while the workers are at least half busy: one more', () => {
    const p = policy(3, 0.6);
    assert.equal(p.after(1500), null);
    assert.equal(p.after(1000), 3);
    assert.equal(p.elastic.status().last?.reason, 'queue');
    assert.equal(p.elastic.status().queueDepth, 3);
  });

  it('a queue with idle workers (a burst of connects) is not saturation, and keeps them from scaling down', () => {
    assert.equal(policy(3, 0.2).after(120_000), null);
    assert.equal(policy(0, 0.2).after(29_000), null, 'scale-down-after defaults to 30 s');
    assert.equal(policy(0, 0.2).after(31_000), 1);
  });
});

describe('max-workers settings and the memory the master can see', () => {
  it('max-workers below workers is refused, naming both; 0 is off', () => {
    assert.throws(
      () => settingsFrom({ cwd: '/', flags: { workers: '4', maxWorkers: '2' } }),
      (err: unknown) => err instanceof SettingError && err.setting === 'max-workers' && /at least setting "workers" \(4\)/.test(err.message),
    );
    const { settings: s } = settingsFrom({ cwd: '/', env: { RAAS_MAX_WORKERS: '0', RAAS_SCALE_DOWN_AFTER: '45' } });
    assert.deepEqual([s.maxWorkers, s.scaleDownAfter], [0, 45]);
    assert.deepEqual(firstDesired(settingsFrom({ cwd: '/', flags: { workers: '2', maxWorkers: '6' } }).settings, {}, []).bounds, { min: 2, max: 6 });
  });

  it('MemAvailable, bounded by a cgroup v2 limit when there is one', () => {
    const files: Record<string, string> = {
      '/proc/meminfo': 'MemTotal:       8000000 kB\nMemFree:         100000 kB\nMemAvailable:    4000000 kB\n',
      '/proc/self/cgroup': '0::/system.slice/app.service\n',
      '/sys/fs/cgroup/system.slice/app.service/memory.max': '1073741824\n',
      '/sys/fs/cgroup/system.slice/app.service/memory.current': '973741824\n',
    };
    const read = (p: string) => files[p] ?? null;
    assert.equal(parseMemAvailable(files['/proc/meminfo']!), 4_000_000 * 1024);
    assert.equal(cgroupRoom(read), 100_000_000);
    assert.equal(memoryAvailable(read), 100_000_000);
    files['/sys/fs/cgroup/system.slice/app.service/memory.max'] = 'max\n';
    assert.equal(memoryAvailable(read), 4_000_000 * 1024);
    assert.equal(memoryAvailable(() => null), null);
  });
});
