// Integration: HUP re-reads the config file and rolls the workers under load without failing a
// request: a plain reload, a refused (broken) config, a reload that grows the pool and adds a
// listener, and a reload whose new workers cannot boot (aborted, old workers keep serving).
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import { LOG } from '../../src/log.js';
import { LineLoad, lineRequest, targetOf } from '../helpers/clients.js';
import { assertLiveWorkers, served, sorted } from '../helpers/assertions.js';
import { isAlive, processArgs, reapAll, startRaas, tmpDir, waitUntil, type RaasProcess } from '../helpers/raas.js';
import { freePort, probe } from '../helpers/sockets.js';

after(reapAll);

/** Settings from the environment outrank the config file: make sure none leaks in from the runner. */
const CLEAN_ENV = { RAAS_WORKERS: '', WEB_CONCURRENCY: '', RAAS_LISTEN: '', RAAS_LOG_FILE: '', RAAS_APP: '' };

function writeJson(file: string, value: unknown): void {
  fs.writeFileSync(file, JSON.stringify(value));
}

/** Ready workers by slot, checked against the log: each must be alive and of generation `gen`. */
function readyOfGeneration(raas: RaasProcess, gen: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const [slot, pid] of raas.readyWorkers()) {
    const ready = raas.events(LOG.WORKER_READY, 'master').find((e) => e.worker_pid === String(pid));
    if (ready?.gen === String(gen)) out.set(slot, pid);
  }
  return out;
}




/** A master on a JSON config (2 workers on port 0) with 50 clients already being served. */
async function underLoad(t: TestContext, extra: Record<string, unknown> = {}) {
  const dir = tmpDir();
  const config = path.join(dir, 'raas.json');
  writeJson(config, { listen: ['127.0.0.1:0'], workers: 2, ...extra });
  const raas = await startRaas({ args: ['-c', config], env: CLEAN_ENV });
  const [tcp] = await raas.ready();
  const old = [...raas.readyWorkers().values()];
  const load = new LineLoad(targetOf(tcp!), 50);
  t.after(() => load.stop());
  await served(load, 200);
  return { dir, config, raas, tcp: tcp!, old, load };
}

describe('reload (HUP)', () => {
  it('replaces every worker with a new generation under load, failing no request', async (t) => {
    const dir = tmpDir();
    const config = path.join(dir, 'raas.json');
    writeJson(config, { listen: ['127.0.0.1:0'], workers: 2, name: 'rl-one' });
    const raas = await startRaas({ args: ['-c', config], env: CLEAN_ENV });
    const [tcp] = await raas.ready();
    const old = readyOfGeneration(raas, 1);
    assert.equal(old.size, 2);
    const load = new LineLoad(targetOf(tcp!), 50);
    t.after(() => load.stop());
    await served(load, 200);

    // A changed name proves the file was re-read: the new workers carry it in their title.
    writeJson(config, { listen: ['127.0.0.1:0'], workers: 2, name: 'rl-two' });
    const mark = raas.entries.length;
    raas.signal('SIGHUP');
    const start = await raas.waitForEvent(LOG.RELOAD_START, { role: 'master' }, { after: mark });
    assert.equal(start.gen, '2');
    await raas.waitForEvent(LOG.RELOAD_DONE, { role: 'master', gen: '2' }, { after: mark });

    for (const pid of old.values()) {
      const exit = await raas.waitForEvent(LOG.WORKER_EXIT, { worker_pid: String(pid) }, { after: mark });
      assert.equal(exit.reason, 'reload');
      assert.equal(exit.code, '0', `old worker ${pid} should exit 0 after draining`);
      assert.equal(exit.gen, '1');
    }
    await waitUntil('old workers gone', () => [...old.values()].every((p) => !isAlive(p)));
    const fresh = readyOfGeneration(raas, 2);
    assert.deepEqual(sorted(fresh.keys()), [0, 1]);
    for (const pid of fresh.values()) assert.ok(![...old.values()].includes(pid), `pid ${pid} was not replaced`);
    for (const [slot, pid] of fresh) assert.match(processArgs(pid), new RegExp(`\\[rl-two\\] worker ${slot}`));
    await served(load, 300);

    const report = await load.stop();
    assert.deepEqual(report.failures, {});
    assert.ok(report.ok > 500, `only ${report.ok} requests served`);
    assertLiveWorkers(raas, fresh.values());
    assert.deepEqual(raas.events(LOG.RELOAD_ABORTED), []);
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });

  it('refuses a broken config and keeps the same workers serving', async (t) => {
    const dir = tmpDir();
    const config = path.join(dir, 'raas.json');
    writeJson(config, { listen: ['127.0.0.1:0'], workers: 2 });
    const raas = await startRaas({ args: ['-c', config], env: CLEAN_ENV });
    const [tcp] = await raas.ready();
    const workers = raas.readyWorkers();
    const pids = [...workers.values()];
    assert.equal(pids.length, 2);
    const load = new LineLoad(targetOf(tcp!), 50);
    t.after(() => load.stop());
    await served(load, 200);
    const mark = raas.entries.length;

    // Not JSON at all.
    fs.writeFileSync(config, '{"workers": 3,');
    raas.signal('SIGHUP');
    const notJson = await raas.waitForEvent(LOG.RELOAD_REFUSED, { role: 'master' }, { after: mark });
    assert.match(notJson.error!, /not valid JSON/);
    assert.ok(notJson.error!.includes(config), `the error should name the file: ${notJson.error}`);
    await served(load, 200);

    // Valid JSON, invalid value.
    const mark2 = raas.entries.length;
    writeJson(config, { listen: ['127.0.0.1:0'], workers: 'x' });
    raas.signal('SIGHUP');
    const badValue = await raas.waitForEvent(LOG.RELOAD_REFUSED, { role: 'master' }, { after: mark2 });
    assert.match(badValue.error!, /workers/);
    assert.match(badValue.error!, /"x"|\bx\b/);
    await served(load, 200);

    // Nothing moved: no new generation, no spawn, no exit, the same pids in the same slots.
    const since = raas.entries.slice(mark);
    for (const event of [LOG.RELOAD_START, LOG.WORKER_SPAWN, LOG.WORKER_EXIT, LOG.RELOAD_ABORTED]) {
      assert.deepEqual(since.filter((e) => e.event === event), [], `unexpected ${event}`);
    }
    assert.deepEqual(raas.readyWorkers(), workers);
    const report = await load.stop();
    assert.deepEqual(report.failures, {});
    assertLiveWorkers(raas, pids);

    // A refused reload leaves no reload pending: a fixed file reloads.
    writeJson(config, { listen: ['127.0.0.1:0'], workers: 2 });
    const mark3 = raas.entries.length;
    raas.signal('SIGHUP');
    await raas.waitForEvent(LOG.RELOAD_DONE, { role: 'master', gen: '2' }, { after: mark3 });
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });

  it('grows to 3 workers and adds a listener, failing nothing on the old one', async (t) => {
    const { dir, config, raas, tcp, old, load } = await underLoad(t);

    const port = await freePort();
    const added = `line://127.0.0.1:${port}`;
    writeJson(config, { listen: ['127.0.0.1:0', `127.0.0.1:${port}`], workers: 3 });
    const mark = raas.entries.length;
    raas.signal('SIGHUP');
    const done = await raas.waitForEvent(LOG.RELOAD_DONE, { role: 'master', gen: '2' }, { after: mark });
    assert.equal(done.workers, '3');
    const fresh = readyOfGeneration(raas, 2);
    assert.deepEqual(sorted(fresh.keys()), [0, 1, 2]);

    // Every new worker listens on both sockets (the old address kept, the new one bound).
    for (const pid of fresh.values()) {
      const listening = await raas.waitForEvent(LOG.WORKER_LISTENING, { role: 'worker', pid: String(pid) });
      assert.deepEqual(listening.listen!.split(','), [tcp, added]);
    }
    assert.equal(await lineRequest(targetOf(added), 'new listener\n'), 'renetsil wen\n');
    const second = new LineLoad(targetOf(added), 50);
    t.after(() => second.stop());
    await served(second, 200);

    for (const pid of old) {
      const exit = await raas.waitForEvent(LOG.WORKER_EXIT, { worker_pid: String(pid) }, { after: mark });
      assert.equal(exit.reason, 'reload');
      assert.equal(exit.code, '0');
    }
    await waitUntil('old workers gone', () => old.every((p) => !isAlive(p)));
    await served(load, 200);

    const [report, report2] = await Promise.all([load.stop(), second.stop()]);
    assert.deepEqual(report.failures, {});
    assert.deepEqual(report2.failures, {});
    assertLiveWorkers(raas, fresh.values());
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });

  it('aborts a reload whose new workers crash at boot; the old workers keep serving', async (t) => {
    const dir = tmpDir();
    const config = path.join(dir, 'raas.mjs');
    const crash = path.join(dir, 'crash.mjs');
    fs.writeFileSync(crash, "throw new Error('app crashed at import');\n");
    fs.writeFileSync(config, "export default { listen: ['127.0.0.1:0'], workers: 2 };\n");
    const raas = await startRaas({ args: ['-c', config], env: CLEAN_ENV });
    const [tcp] = await raas.ready();
    const workers = raas.readyWorkers();
    const old = [...workers.values()];
    const load = new LineLoad(targetOf(tcp!), 50);
    t.after(() => load.stop());
    await served(load, 200);

    const port = await freePort();
    const http = `http://127.0.0.1:${port}`;
    fs.writeFileSync(
      config,
      `export default { listen: ['127.0.0.1:0', ${JSON.stringify(http)}], workers: 2, app: ${JSON.stringify(crash)} };\n`,
    );
    const mark = raas.entries.length;
    raas.signal('SIGHUP');
    await raas.waitForEvent(LOG.RELOAD_START, { role: 'master', gen: '2' }, { after: mark });
    const aborted = await raas.waitForEvent(LOG.RELOAD_ABORTED, { role: 'master' }, { after: mark });
    assert.equal(aborted.gen, '2');
    assert.match(aborted.reason!, /failed to boot/);
    const failed = raas.entries.slice(mark).filter((e) => e.event === LOG.WORKER_BOOT_FAILED && e.role === 'worker');
    assert.ok(failed.length > 0);
    assert.match(failed[0]!.error!, /app crashed at import/);
    // The socket bound for the dropped listener is closed again.
    await raas.waitForEvent(LOG.LISTENER_CLOSED, { role: 'master', listen: http }, { after: mark });

    // Every new worker is gone; the old ones never moved.
    await raas.waitFor('no new-generation worker left', () => sorted(raas.liveWorkerPids()).join() === sorted(old).join());
    const spawned = raas.entries.slice(mark).filter((e) => e.event === LOG.WORKER_SPAWN);
    assert.ok(spawned.length >= 2);
    for (const e of spawned) assert.equal(e.gen, '2');
    await waitUntil('new workers dead', () => spawned.every((e) => !isAlive(Number(e.worker_pid))));
    assert.equal(await probe(port), 'ECONNREFUSED');
    assert.deepEqual(
      raas.entries.slice(mark).filter((e) => e.event === LOG.WORKER_EXIT && old.includes(Number(e.worker_pid))),
      [],
    );
    assert.deepEqual(raas.readyWorkers(), workers);
    await served(load, 300);

    const report = await load.stop();
    assert.deepEqual(report.failures, {});
    assertLiveWorkers(raas, old);
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });

  it('a reload to a log file that cannot be opened keeps the master and the old workers serving', async (t) => {
    const { dir, config, raas, tcp, old, load } = await underLoad(t);

    // Valid as a setting (a path), but its directory does not exist: the file cannot be opened.
    writeJson(config, { listen: ['127.0.0.1:0'], workers: 2, 'log-file': path.join(dir, 'missing', 'raas.log') });
    const mark = raas.entries.length;
    raas.signal('SIGHUP');
    await raas.waitFor('the reload refused or aborted, or the master dead', () =>
      !raas.alive ||
      raas.entries.slice(mark).find((e) => e.event === LOG.RELOAD_REFUSED || e.event === LOG.RELOAD_ABORTED),
    );
    assert.equal(raas.alive, true, `the master died on the reload: ${raas.lines.slice(-15).join('\n')}`);
    await served(load, 300);
    const report = await load.stop();
    assert.deepEqual(report.failures, {});
    await raas.waitFor('only the old workers left', () => sorted(raas.liveWorkerPids()).join() === sorted(old).join());
    assertLiveWorkers(raas, old);
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });
});
