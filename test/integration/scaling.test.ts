// Integration: TTIN and TTOU add and remove one worker, WINCH stops them all while the master
// keeps the sockets (clients wait in the kernel queue until TTIN brings a worker back), and TTOU
// never goes below zero. All under load, failing no request.
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { LOG } from '../../src/log.js';
import { LineLoad, targetOf } from '../helpers/clients.js';
import { assertLiveWorkers, served, sorted } from '../helpers/assertions.js';
import { isAlive, reapAll, startRaas, waitUntil, type RaasProcess } from '../helpers/raas.js';
import { acceptQueueLength } from '../helpers/sockets.js';

after(reapAll);




/** Sends a signal and returns the master's scale line it caused. */
async function scale(raas: RaasProcess, signal: NodeJS.Signals): Promise<{ from: number; to: number }> {
  const mark = raas.entries.length;
  raas.signal(signal);
  const entry = await raas.waitForEvent(LOG.SCALE, { role: 'master' }, { after: mark });
  return { from: Number(entry.from), to: Number(entry.to) };
}

/** Waits for a graceful exit (drained, code 0) of a worker stopped by scaling down. */
async function scaledDown(raas: RaasProcess, pid: number, after: number): Promise<void> {
  const exit = await raas.waitForEvent(LOG.WORKER_EXIT, { role: 'master', worker_pid: String(pid) }, { after });
  assert.equal(exit.reason, 'scale-down', JSON.stringify(exit));
  assert.equal(exit.code, '0', `worker ${pid} should exit 0: ${JSON.stringify(exit)}\n${raas.lines.filter((l) => l.includes(`pid=${pid}`) || l.includes(`worker_pid=${pid}`)).join('\n')}`);
  assert.equal(exit.signal, '-');
  await raas.waitForEvent(LOG.WORKER_DRAINED, { role: 'worker', pid: String(pid) }, { after });
  await waitUntil(`worker ${pid} gone`, () => !isAlive(pid));
}

describe('scaling (TTIN, TTOU, WINCH)', () => {
  it('TTIN adds a worker in slot 2, TTOU retires it gracefully, under load', async (t) => {
    const raas = await startRaas({ args: ['--listen', '127.0.0.1:0', '-w', '2'] });
    const [tcp] = await raas.ready();
    const base = raas.readyWorkers();
    assert.deepEqual(sorted(base.keys()), [0, 1]);
    const load = new LineLoad(targetOf(tcp!), 50);
    t.after(() => load.stop());
    await served(load, 200);

    const mark = raas.entries.length;
    assert.deepEqual(await scale(raas, 'SIGTTIN'), { from: 2, to: 3 });
    const added = await raas.waitForEvent(LOG.WORKER_READY, { role: 'master', slot: '2' }, { after: mark });
    const third = Number(added.worker_pid);
    assert.ok(![...base.values()].includes(third));
    assertLiveWorkers(raas, [...base.values(), third]);
    await served(load, 300);

    const mark2 = raas.entries.length;
    assert.deepEqual(await scale(raas, 'SIGTTOU'), { from: 3, to: 2 });
    await scaledDown(raas, third, mark2);
    await served(load, 300);

    const report = await load.stop();
    assert.deepEqual(report.failures, {});
    // Slots 0 and 1 were never touched.
    assert.deepEqual(raas.readyWorkers(), base);
    assertLiveWorkers(raas, base.values());
    assert.deepEqual(
      raas.entries.slice(mark).filter((e) => e.event === LOG.WORKER_SPAWN).map((e) => e.slot),
      ['2'],
    );
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });

  it('WINCH stops every worker, clients queue in the kernel, TTIN serves them', async (t) => {
    const raas = await startRaas({ args: ['--listen', '127.0.0.1:0', '-w', '2'] });
    const [tcp] = await raas.ready();
    const target = targetOf(tcp!);
    const port = 'port' in target ? target.port : 0;
    const pids = [...raas.readyWorkers().values()];
    const load = new LineLoad(target, 50);
    t.after(() => load.stop());
    await served(load, 200);

    const mark = raas.entries.length;
    raas.signal('SIGWINCH');
    await raas.waitForEvent(LOG.WORKERS_STOPPED, { role: 'master' }, { after: mark });
    for (const pid of pids) await scaledDown(raas, pid, mark);
    assert.deepEqual(raas.liveWorkerPids(), []);
    assert.equal(raas.alive, true);
    assert.equal(isAlive(raas.pid), true);
    assert.deepEqual(raas.entries.slice(mark).filter((e) => e.event === LOG.STOPPING), []);

    // No worker: every client's connection waits, completed, in the listening socket's queue.
    const stalled = load.ok;
    await waitUntil('all 50 clients queued in the kernel', () => (acceptQueueLength(port) ?? 0) >= 50, 5_000);
    assert.ok(load.ok - stalled <= 50, `${load.ok - stalled} requests served with no worker`);
    assert.deepEqual(load.report.failures, {});

    const mark2 = raas.entries.length;
    assert.deepEqual(await scale(raas, 'SIGTTIN'), { from: 0, to: 1 });
    const back = await raas.waitForEvent(LOG.WORKER_READY, { role: 'master', slot: '0' }, { after: mark2 });
    await served(load, 300);
    await waitUntil('queue drained', () => (acceptQueueLength(port) ?? 0) < 50);

    const report = await load.stop();
    assert.deepEqual(report.failures, {});
    assertLiveWorkers(raas, [Number(back.worker_pid)]);
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });

  it('TTOU below zero stays at zero; the next TTIN brings one worker', async (t) => {
    const raas = await startRaas({ args: ['--listen', '127.0.0.1:0', '-w', '1'] });
    const [tcp] = await raas.ready();
    const [only] = [...raas.readyWorkers().values()];
    const load = new LineLoad(targetOf(tcp!), 50);
    t.after(() => load.stop());
    await served(load, 200);

    const mark = raas.entries.length;
    assert.deepEqual(await scale(raas, 'SIGTTOU'), { from: 1, to: 0 });
    await scaledDown(raas, only!, mark);
    assert.deepEqual(await scale(raas, 'SIGTTOU'), { from: 0, to: 0 });
    assert.deepEqual(await scale(raas, 'SIGTTOU'), { from: 0, to: 0 });
    assert.equal(raas.alive, true);
    assert.deepEqual(raas.liveWorkerPids(), []);
    assert.deepEqual(raas.entries.slice(mark).filter((e) => e.event === LOG.WORKER_SPAWN), []);

    // Had the target gone negative, one TTIN would not bring a worker back.
    const mark2 = raas.entries.length;
    assert.deepEqual(await scale(raas, 'SIGTTIN'), { from: 0, to: 1 });
    const back = await raas.waitForEvent(LOG.WORKER_READY, { role: 'master', slot: '0' }, { after: mark2 });
    await served(load, 300);

    const report = await load.stop();
    assert.deepEqual(report.failures, {});
    assertLiveWorkers(raas, [Number(back.worker_pid)]);
    assert.deepEqual(raas.errorLines(), []);
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });
});
