// Integration: USR2 upgrades. A new master started from the same command line inherits the
// listening sockets and takes over (by itself with `upgrade-handover auto`, or by WINCH + QUIT of
// the old master), or is backed out (WINCH + HUP old, QUIT new); a new master that cannot start
// leaves the old one serving. All under a continuous load of 50 clients: not one request fails.
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { EXIT } from '../../src/exit-codes.js';
import { LOG } from '../../src/log.js';
import { LineLoad, lineRequest, targetOf, type Target } from '../helpers/clients.js';
import {
  fdCount,
  fdListing,
  freePort,
  readPidFile,
  readyWorkersOf,
  upgrade,
  waitMasterStopped,
  workerExit,
  workersOf,
} from '../helpers/masters.js';
import { isAlive, reapAll, startRaas, tmpDir, waitUntil, type RaasProcess } from '../helpers/raas.js';

after(reapAll);

/** Loads still running when a test ends (it failed): stopped so that they do not outlive it. */
const loads = new Set<LineLoad>();
afterEach(async () => {
  for (const load of loads) await load.stop();
  loads.clear();
});

function startLoad(target: Target): LineLoad {
  const load = new LineLoad(target, 50);
  loads.add(load);
  return load;
}

interface Setup {
  raas: RaasProcess;
  dir: string;
  pidFile: string;
  oldbin: string;
  sock: string;
  tcp: Target;
}

/**
 * A master on a fixed loopback port (so that its address is the same in every master's config)
 * and a Unix socket, with a pid file in a fresh directory.
 */
async function startMaster(extra: string[], workers = 2): Promise<Setup> {
  const dir = tmpDir('raas-upgrade-');
  const pidFile = path.join(dir, 'raas.pid');
  const sock = path.join(dir, 's.sock');
  const port = await freePort();
  const raas = await startRaas({
    args: ['--listen', `127.0.0.1:${port}`, '--listen', `unix:${sock}`, '-w', String(workers), '--pid', pidFile, ...extra],
  });
  const listen = await raas.ready();
  assert.deepEqual(listen, [`line://127.0.0.1:${port}`, `line://unix:${sock}`]);
  assert.equal(readPidFile(pidFile), raas.pid);
  return { raas, dir, pidFile, oldbin: `${pidFile}.oldbin`, sock, tcp: targetOf(listen[0]!) };
}

/** Waits until the load made `n` more successful requests than it had so far. */
async function servedMore(load: LineLoad, n = 200, what = 'load served'): Promise<void> {
  const before = load.ok;
  await waitUntil(`${what} (${n} more requests)`, () => load.ok >= before + n, 15_000);
}

async function unixAnswers(sock: string): Promise<void> {
  assert.equal(await lineRequest({ path: sock }, 'via unix\n'), 'xinu aiv\n');
}

/** QUITs a master we may not be the parent of, and checks it stops cleanly and removes its pid file. */
async function quitLast(s: Setup, pid: number): Promise<void> {
  const mark = s.raas.entries.length;
  process.kill(pid, 'SIGQUIT');
  const stopped = await waitMasterStopped(s.raas, pid);
  assert.equal(stopped.exit_code, '0');
  assert.ok(s.raas.entries.indexOf(stopped) >= mark);
  assert.equal(fs.existsSync(s.pidFile), false, 'pid file removed by the last master');
  assert.equal(fs.existsSync(s.oldbin), false);
  // The last master serving a Unix socket removes its file.
  assert.equal(fs.existsSync(s.sock), false, 'socket file removed by the last master');
}


/**
 * A master's fd count without its transient fds: once a second it runs `ss` for the Unix
 * queue depth (three socketpairs while the child lives) and writes its stats file. A leak only
 * grows, so the least of a few samples spread over ~400 ms is the steady count.
 */
async function steadyFdCount(pid: number): Promise<number> {
  let least = fdCount(pid);
  let samples = 1;
  // 10 more samples, 40 ms apart: together they span the transient fds' lifetime.
  await waitUntil(`11 fd counts of ${pid}`, () => {
    least = Math.min(least, fdCount(pid));
    return ++samples > 10;
  }, 10_000, 40);
  return least;
}

describe('USR2 upgrade', () => {
  it('auto hand-over: the new master takes over, the old one and its workers exit 0, the Unix socket stays', async () => {
    const s = await startMaster(['--upgrade-handover', 'auto']);
    const { raas } = s;
    const oldPid = raas.pid;
    const oldWorkers = readyWorkersOf(raas, oldPid);
    assert.equal(oldWorkers.length, 2);
    const load = startLoad(s.tcp);
    await servedMore(load, 200, 'load before the upgrade');

    const { newPid, mark } = await upgrade(raas, oldPid);
    assert.notEqual(newPid, oldPid);
    await raas.waitForEvent(LOG.READY, { role: 'master', pid: String(newPid) }, { after: mark });
    await raas.waitForEvent(LOG.REEXEC_HANDOVER, { pid: String(newPid), old_master_pid: String(oldPid) }, { after: mark });
    await raas.waitForEvent(LOG.REEXEC_READY, { pid: String(oldPid), new_master_pid: String(newPid) }, { after: mark });

    // The old master is our child: its real exit status.
    const exit = await raas.waitExit();
    assert.deepEqual(exit, { code: 0, signal: null });
    for (const pid of oldWorkers) {
      const gone = workerExit(raas, oldPid, pid);
      assert.ok(gone, `old worker ${pid} logged its exit`);
      assert.equal(gone.code, '0');
      await waitUntil(`old worker ${pid} gone`, () => !isAlive(pid));
    }
    assert.equal(readPidFile(s.pidFile), newPid);
    assert.equal(fs.existsSync(s.oldbin), false, '.oldbin removed by the old master');
    assert.ok(isAlive(newPid));
    const newWorkers = readyWorkersOf(raas, newPid);
    assert.equal(newWorkers.length, 2);
    for (const pid of newWorkers) assert.ok(isAlive(pid));

    await servedMore(load, 300, 'load after the old master left');
    // The old master must not have unlinked the socket file the new one serves on.
    assert.ok(fs.statSync(s.sock).isSocket());
    await unixAnswers(s.sock);
    const report = await load.stop();
    assert.deepEqual(report.failures, {});
    assert.deepEqual(raas.errorLines(), []);
    await quitLast(s, newPid);
  });

  it('manual hand-over: WINCH then QUIT the old master; pid file and .oldbin name the right masters', async () => {
    const s = await startMaster(['--upgrade-handover', 'manual']);
    const { raas } = s;
    const oldPid = raas.pid;
    const oldWorkers = readyWorkersOf(raas, oldPid);
    const load = startLoad(s.tcp);
    await servedMore(load, 200, 'load before the upgrade');

    const { newPid, mark } = await upgrade(raas, oldPid);
    await raas.waitForEvent(LOG.REEXEC_READY, { pid: String(oldPid), new_master_pid: String(newPid) }, { after: mark });
    // Both serve; nothing stops the old master by itself.
    assert.equal(readPidFile(s.pidFile), newPid);
    assert.equal(readPidFile(s.oldbin), oldPid);
    assert.equal(readyWorkersOf(raas, newPid).length, 2);
    assert.deepEqual(readyWorkersOf(raas, oldPid).sort(), oldWorkers.sort());
    assert.equal(raas.entries.slice(mark).some((e) => e.event === LOG.REEXEC_HANDOVER), false);
    await servedMore(load, 200, 'load with both masters');
    assert.ok(raas.alive);

    const winch = raas.entries.length;
    raas.signal('SIGWINCH');
    await raas.waitForEvent(LOG.WORKERS_STOPPED, { pid: String(oldPid) }, { after: winch });
    await raas.waitFor('old workers gone', () => workersOf(raas, oldPid).length === 0);
    for (const pid of oldWorkers) await waitUntil(`old worker ${pid} gone`, () => !isAlive(pid));
    assert.ok(raas.alive, 'the old master stays after WINCH');
    assert.equal(readPidFile(s.oldbin), oldPid);
    await servedMore(load, 200, 'load served by the new workers alone');

    raas.signal('SIGQUIT');
    assert.deepEqual(await raas.waitExit(), { code: 0, signal: null });
    assert.equal(fs.existsSync(s.oldbin), false, '.oldbin removed when the old master quits');
    assert.equal(readPidFile(s.pidFile), newPid);
    assert.ok(isAlive(newPid));
    await servedMore(load, 200, 'load after the old master left');
    await unixAnswers(s.sock);
    const report = await load.stop();
    assert.deepEqual(report.failures, {});
    assert.deepEqual(raas.errorLines(), []);
    await quitLast(s, newPid);
  });

  it('backs out: WINCH + HUP the old master, QUIT the new one; the old master serves on with fresh workers', async () => {
    const s = await startMaster(['--upgrade-handover', 'manual']);
    const { raas } = s;
    const oldPid = raas.pid;
    const firstWorkers = readyWorkersOf(raas, oldPid);
    const load = startLoad(s.tcp);
    await servedMore(load, 200, 'load before the upgrade');

    const { newPid, mark } = await upgrade(raas, oldPid);
    await raas.waitForEvent(LOG.REEXEC_READY, { pid: String(oldPid), new_master_pid: String(newPid) }, { after: mark });
    const newWorkers = readyWorkersOf(raas, newPid);
    assert.equal(newWorkers.length, 2);

    raas.signal('SIGWINCH');
    await raas.waitFor('old workers gone', () => workersOf(raas, oldPid).length === 0);
    await servedMore(load, 200, 'load served by the new workers alone');

    const hup = raas.entries.length;
    raas.signal('SIGHUP');
    await raas.waitForEvent(LOG.RELOAD_DONE, { pid: String(oldPid) }, { after: hup });
    const freshWorkers = readyWorkersOf(raas, oldPid);
    assert.equal(freshWorkers.length, 2);
    for (const pid of freshWorkers) assert.ok(!firstWorkers.includes(pid), 'respawned, not the first workers');

    const quit = raas.entries.length;
    process.kill(newPid, 'SIGQUIT');
    const stopped = await waitMasterStopped(raas, newPid);
    assert.equal(stopped.exit_code, '0');
    for (const pid of newWorkers) await waitUntil(`new worker ${pid} gone`, () => !isAlive(pid));
    await raas.waitForEvent(LOG.REEXEC_BACKOUT, { pid: String(oldPid), new_master_pid: String(newPid) }, { after: quit });

    assert.equal(readPidFile(s.pidFile), oldPid, 'the pid file names the old master again');
    assert.equal(fs.existsSync(s.oldbin), false);
    assert.ok(raas.alive);
    assert.deepEqual(readyWorkersOf(raas, oldPid).sort(), freshWorkers.sort());
    await servedMore(load, 300, 'load served by the fresh workers of the old master');
    assert.ok(fs.statSync(s.sock).isSocket(), 'the new master left the socket file alone');
    await unixAnswers(s.sock);
    const report = await load.stop();
    assert.deepEqual(report.failures, {});
    assert.deepEqual(raas.errorLines(), []);

    // And the old master can still upgrade afterwards.
    const again = await upgrade(raas, oldPid);
    await raas.waitForEvent(LOG.REEXEC_READY, { pid: String(oldPid), new_master_pid: String(again.newPid) }, { after: again.mark });
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
    await quitLast(s, again.newPid);
  });

  it('ignores a second USR2 while the new master boots', async () => {
    const s = await startMaster(['--upgrade-handover', 'auto']);
    const { raas } = s;
    const oldPid = raas.pid;
    const load = startLoad(s.tcp);
    await servedMore(load, 200, 'load before the upgrade');

    // Two USR2 sent in the same instant may reach the process as one (a pending standard signal is
    // not queued twice), so the second goes out as soon as the first was taken: the new master is
    // then still starting Node, far from ready.
    const mark = raas.entries.length;
    raas.signal('SIGUSR2');
    raas.signal('SIGUSR2');
    const start = await raas.waitForEvent(LOG.REEXEC_START, { pid: String(oldPid) }, { after: mark });
    const newPid = Number(start.new_master_pid);
    raas.signal('SIGUSR2');
    const ignored = await raas.waitForEvent(LOG.REEXEC_IGNORED, { pid: String(oldPid) }, { after: mark });
    assert.equal(ignored.new_master_pid, String(newPid));
    assert.equal(ignored.ready, 'false');

    await raas.waitForEvent(LOG.REEXEC_HANDOVER, { pid: String(newPid) }, { after: mark });
    assert.equal((await raas.waitExit()).code, 0);
    assert.equal(raas.events(LOG.REEXEC_START).length, 1, 'only one new master started');
    assert.deepEqual(raas.masterPids().sort(), [oldPid, newPid].sort());
    assert.equal(readPidFile(s.pidFile), newPid);
    assert.equal(fs.existsSync(s.oldbin), false);
    await servedMore(load, 200, 'load after the hand-over');
    const report = await load.stop();
    assert.deepEqual(report.failures, {});
    await quitLast(s, newPid);
  });

  it('a new master that dies before it is ready: reexec-failed, pid file restored, the old one serves on', async () => {
    const dir = tmpDir('raas-upgrade-');
    const conf = path.join(dir, 'conf.json');
    const pidFile = path.join(dir, 'raas.pid');
    fs.writeFileSync(conf, JSON.stringify({ workers: 2, 'upgrade-handover': 'auto' }));
    const port = await freePort();
    const raas = await startRaas({ args: ['-c', conf, '--listen', `127.0.0.1:${port}`, '--pid', pidFile] });
    const oldPid = raas.pid;
    const oldWorkers = readyWorkersOf(raas, oldPid);
    assert.equal(oldWorkers.length, 2);
    const load = startLoad({ host: '127.0.0.1', port });
    await servedMore(load, 200, 'load before the upgrade');

    // The new master re-reads the config file: this one does not parse.
    fs.writeFileSync(conf, '{ "workers": 2,');
    const { newPid, mark } = await upgrade(raas, oldPid);
    const failed = await raas.waitForEvent(LOG.REEXEC_FAILED, { pid: String(oldPid), new_master_pid: String(newPid) }, { after: mark });
    assert.equal(failed.code, String(EXIT.CONFIG));
    await waitUntil('new master gone', () => !isAlive(newPid));
    assert.equal(readPidFile(pidFile), oldPid, 'pid file restored');
    assert.equal(fs.existsSync(`${pidFile}.oldbin`), false);
    assert.ok(raas.alive);
    assert.deepEqual(readyWorkersOf(raas, oldPid).sort(), oldWorkers.sort(), 'the old workers were never touched');
    await servedMore(load, 300, 'load after the failed upgrade');

    // Fixed config: the next USR2 goes through.
    fs.writeFileSync(conf, JSON.stringify({ workers: 2, 'upgrade-handover': 'auto' }));
    const next = await upgrade(raas, oldPid);
    await raas.waitForEvent(LOG.REEXEC_HANDOVER, { pid: String(next.newPid) }, { after: next.mark });
    assert.equal((await raas.waitExit()).code, 0);
    assert.equal(readPidFile(pidFile), next.newPid);
    await servedMore(load, 200, 'load after the second upgrade');
    const report = await load.stop();
    assert.deepEqual(report.failures, {});
    process.kill(next.newPid, 'SIGQUIT');
    assert.equal((await waitMasterStopped(raas, next.newPid)).exit_code, '0');
    assert.equal(fs.existsSync(pidFile), false);
  });

  it('20 successive upgrades under load leak no file descriptor and fail no request', async () => {
    const s = await startMaster(['--upgrade-handover', 'auto'], 1);
    const { raas } = s;
    const first = raas.pid;
    const firstFds = await steadyFdCount(first);
    const firstListing = fdListing(first);
    const load = startLoad(s.tcp);
    await servedMore(load, 200, 'load before the upgrades');

    let current = first;
    const masters = [first];
    for (let i = 1; i <= 20; i++) {
      const { newPid, mark } = await upgrade(raas, current);
      await raas.waitForEvent(LOG.REEXEC_HANDOVER, { pid: String(newPid), old_master_pid: String(current) }, { after: mark });
      const stopped = await waitMasterStopped(raas, current);
      assert.equal(stopped.exit_code, '0', `master ${i} exit code`);
      assert.equal(readPidFile(s.pidFile), newPid, `pid file after upgrade ${i}`);
      await servedMore(load, 50, `load after upgrade ${i}`);
      current = newPid;
      masters.push(newPid);
    }
    assert.equal(new Set(masters).size, 21);
    for (const pid of masters.slice(0, -1)) assert.equal(isAlive(pid), false);
    assert.deepEqual(
      raas.liveWorkerPids().sort(),
      workersOf(raas, current).sort(),
      'only the newest master has workers',
    );
    // The hand-over channel is let go right after `ready`: give it a moment, then compare.
    // The count that settled is the one to compare, not a re-count (see steadyFdCount).
    let settled = -1;
    await waitUntil('fd count settles', async () => (settled = await steadyFdCount(current)) === firstFds, 10_000).catch(() => undefined);
    assert.equal(
      settled,
      firstFds,
      `first master's fds:\n${firstListing}\n\nnewest master's fds:\n${fdListing(current)}`,
    );
    await unixAnswers(s.sock);
    const report = await load.stop();
    assert.deepEqual(report.failures, {});
    assert.equal(fs.existsSync(s.oldbin), false);
    await quitLast(s, current);
  });

  it('keeps a TCP listener bound to port 0 across USR2: the new master serves the same port', async () => {
    const raas = await startRaas({ args: ['--listen', '127.0.0.1:0', '-w', '1', '--upgrade-handover', 'auto'] });
    const [tcp] = await raas.ready();
    const load = startLoad(targetOf(tcp!));
    await servedMore(load, 200, 'load before the upgrade');
    const { newPid, mark } = await upgrade(raas, raas.pid);
    const ready = await raas.waitForEvent(LOG.READY, { role: 'master', pid: String(newPid) }, { after: mark });
    assert.equal((await raas.waitExit()).code, 0);
    // The socket is inherited, not bound again: same address, and its clients are still served
    // once the old master is gone.
    const reply = await lineRequest(targetOf(tcp!), 'same port\n').catch((err: NodeJS.ErrnoException) => err.code);
    const report = await load.stop();
    assert.deepEqual(
      { listen: ready.listen, reply, failures: report.failures },
      { listen: tcp, reply: 'trop emas\n', failures: {} },
    );
    process.kill(newPid, 'SIGQUIT');
    assert.equal((await waitMasterStopped(raas, newPid)).exit_code, '0');
  });
});
