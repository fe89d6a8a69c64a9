// Integration: chaos under load. For RAAS_CHAOS_SECONDS (default 15; `npm run chaos` runs 60),
// random SIGKILLs and SIGSTOPs (left stopped past `timeout`, so that the master kills them) of
// workers, HUP, TTIN/TTOU and USR2 with auto hand-over, while 50 clients run over the line
// protocol and HTTP (keep-alive and close). No request fails except on connections a killed worker
// held, counted exactly at each kill; afterwards the master's fds and RSS are back, no zombie is
// left, and every process is reaped. The seed is printed; RAAS_CHAOS_SEED replays a run.
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { LOG } from '../../src/log.js';
import { freeze, heldConnections, rssBytes, seededRandom, zombieChildren } from '../helpers/chaos.js';
import { LineLoad, type LoadReport } from '../helpers/clients.js';
import { HttpLoad, type HttpLoadReport } from '../helpers/http-load.js';
import { fdCount, fdListing, freePort, readPidFile, readyWorkersOf, workerExit, workersOf } from '../helpers/masters.js';
import { isAlive, reapAll, startRaas, tmpDir, waitUntil, type RaasProcess } from '../helpers/raas.js';

const CHAOS_SECONDS = Number(process.env.RAAS_CHAOS_SECONDS ?? 15);
const SEED = process.env.RAAS_CHAOS_SEED !== undefined ? Number(process.env.RAAS_CHAOS_SEED) : Math.floor(Math.random() * 2 ** 32);
/** The master's `timeout`: a SIGSTOPped worker is killed after it (plus up to a second for the stuck report). */
const TIMEOUT_S = 3;
const WORKERS = 3;
const MIN_WORKERS = 2;
const MAX_WORKERS = 5;
/** Failure kinds a cut connection can show; anything else (refused, wrong reply, timeout, 5xx) is a bug. */
const CUT_KINDS = /^(ECONNRESET|EPIPE|closed-without-reply)(:reused|:fresh)?$/;

after(reapAll);

interface Victim {
  pid: number;
  master: number;
  how: 'SIGKILL' | 'SIGSTOP';
  /** Client connections the frozen worker held (kernel fd table): what its kill cuts. */
  held: number;
  /** Their client ports: a failed request on one of them was cut by this kill. */
  clientPorts: number[];
  /** The same from its last beat, as the stats report had it (stale by up to timeout/4), for comparison. */
  beat: number | null;
  atMs: number;
}

/** The worker's open connections in its master's stats report (its last beat), or null. */
function beatConnections(pidFile: string, master: number, worker: number): number | null {
  try {
    const report = JSON.parse(fs.readFileSync(`${pidFile}.${master}.stats.json`, 'utf8')) as {
      workers: Array<{ pid: number | null; openConnections: number | null }>;
    };
    return report.workers.find((w) => w.pid === worker)?.openConnections ?? null;
  } catch {
    return null;
  }
}

function failures(line: LoadReport, keep: HttpLoadReport, close: HttpLoadReport): Record<string, number> {
  const all: Record<string, number> = {};
  const add = (prefix: string, kinds: Record<string, number>): void => {
    for (const [k, n] of Object.entries(kinds)) all[`${prefix} ${k}`] = n;
  };
  add('line', line.failures);
  add('http-keepalive', keep.failures);
  add('http-close', close.failures);
  return all;
}

describe('chaos under load', () => {
  it(`${CHAOS_SECONDS} s of SIGKILL, SIGSTOP, HUP, TTIN/TTOU and USR2 under 50 clients: only cut connections fail; fds, RSS, zombies back`, {
    timeout: (CHAOS_SECONDS + 240) * 1000,
  }, async (t) => {
    const note = (msg: string): void => {
      t.diagnostic(msg);
      process.stderr.write(`# chaos: ${msg}\n`);
    };
    note(`seed ${SEED} (RAAS_CHAOS_SEED=${SEED} replays it), ${CHAOS_SECONDS} s`);
    const rand = seededRandom(SEED);
    const dir = tmpDir('raas-chaos-');
    const pidFile = path.join(dir, 'raas.pid');
    const linePort = await freePort();
    const httpPort = await freePort();
    const raas: RaasProcess = await startRaas({
      args: [
        '--listen', `127.0.0.1:${linePort}`,
        '--listen', `http://127.0.0.1:${httpPort}`,
        '-w', String(WORKERS),
        '--timeout', String(TIMEOUT_S),
        '--upgrade-handover', 'auto',
        '--pid', pidFile,
      ],
      readyTimeoutMs: 60_000,
    });
    const first = raas.pid;
    await raas.waitFor('every worker ready', () => readyWorkersOf(raas, first).length === WORKERS, 60_000);

    const maxMs = (CHAOS_SECONDS + 600) * 1000;
    const line = new LineLoad({ host: '127.0.0.1', port: linePort }, 20, maxMs);
    const keep = new HttpLoad({ host: '127.0.0.1', port: httpPort }, { concurrency: 15, reconnectEvery: 25, maxMs, samples: 200 });
    const close = new HttpLoad({ host: '127.0.0.1', port: httpPort }, { concurrency: 15, keepAlive: false, maxMs, samples: 200 });
    const loads = { line, keep, close };
    const servedMore = async (what: string, n = 100): Promise<void> => {
      const base = { line: line.ok, keep: keep.ok, close: close.ok };
      await waitUntil(`${what}: every load served ${n} more`, () => Object.entries(loads).every(([k, l]) => l.ok >= base[k as keyof typeof base] + n), 60_000);
    };
    try {
      await servedMore('warm-up', 200);
      const before = { fds: fdCount(first), rss: rssBytes(first) };
      note(`master ${first} before: ${before.fds} fds, RSS ${(before.rss / 2 ** 20).toFixed(1)} MiB`);

      // ---- the chaos ------------------------------------------------------------------------
      const victims: Victim[] = [];
      const touched = new Set<number>();
      // Standard signals coalesce while pending (two TTINs the master has not yet run between are
      // one): a scale signal goes only once the master logged the previous one, and the count is
      // the one it logged.
      const scaleSentAt = new Map<number, number>(); // master pid -> log length when we sent one
      // Pending until the master logged the count it moved to (its `scale` line, which follows the
      // `signal` line: a test that read the output between the two saw the old count).
      const scalePending = (master: number): boolean => {
        const mark = scaleSentAt.get(master);
        if (mark === undefined) return false;
        return !raas.entries.slice(mark).some((e) => e.pid === String(master) && e.event === LOG.SCALE);
      };
      // The master's worker count as its log tells it: TTIN/TTOU move it (`scale`), a reload sets
      // the config's count (`reload-start`), an aborted reload restores the one before it.
      const targetOf = (master: number): number => {
        let target = WORKERS;
        const beforeReload: number[] = [];
        for (const e of raas.entries) {
          if (e.pid !== String(master)) continue;
          if (e.event === LOG.SCALE) target = Number(e.to);
          else if (e.event === LOG.RELOAD_START) (beforeReload.push(target), (target = Number(e.workers)));
          else if (e.event === LOG.RELOAD_DONE) beforeReload.pop();
          else if (e.event === LOG.RELOAD_ABORTED) target = beforeReload.pop() ?? target;
        }
        return target;
      };
      const scale = (master: number, signal: 'SIGTTIN' | 'SIGTTOU'): void => {
        scaleSentAt.set(master, raas.entries.length);
        process.kill(master, signal);
      };
      const signals: string[] = [];
      let upgradingFrom: number | null = null;
      let upgradeMark = 0;
      let upgrades = 0;
      const maxUpgrades = 1 + Math.floor(CHAOS_SECONDS / 15);
      // The test's own event-loop stalls, reported: a stalled client looks idle to a draining worker.
      const loopDelay = monitorEventLoopDelay({ resolution: 20 });
      loopDelay.enable();
      const startedAt = Date.now();
      const endAt = startedAt + CHAOS_SECONDS * 1000;

      const upgradeOver = (): boolean => {
        if (upgradingFrom === null) return true;
        const failed = raas.entries
          .slice(upgradeMark)
          .some((e) => e.pid === String(upgradingFrom) && (e.event === LOG.REEXEC_FAILED || e.event === LOG.REEXEC_LOST));
        if (failed || !isAlive(upgradingFrom)) upgradingFrom = null;
        return upgradingFrom === null;
      };

      while (Date.now() < endAt) {
        // Same number of draws every turn, so that a seed replays the same choices.
        const delay = 100 + rand() * 400;
        const action = rand();
        const which = rand();
        // time is tested: the random gap between blows is the chaos (seeded, so a failing run
        // replays), blows landing at any moment of a reload, an upgrade or a respawn.
        await new Promise((r) => setTimeout(r, delay));
        const master = readPidFile(pidFile);
        if (master === null || !isAlive(master)) continue;
        const quiet = upgradeOver() && !fs.existsSync(`${pidFile}.oldbin`);
        const target = targetOf(master);
        const at = Date.now() - startedAt;

        if (action < 0.45) {
          const how = action < 0.3 ? 'SIGKILL' : 'SIGSTOP';
          const stoppedAlive = victims.filter((v) => v.how === 'SIGSTOP' && isAlive(v.pid)).length;
          if (how === 'SIGSTOP' && stoppedAlive >= 1) continue; // keep serving capacity: one frozen at a time
          const candidates = readyWorkersOf(raas, master).filter((p) => !touched.has(p)).sort((a, b) => a - b);
          if (candidates.length === 0) continue;
          const pid = candidates[Math.floor(which * candidates.length)]!;
          touched.add(pid);
          const beat = beatConnections(pidFile, master, pid);
          // Frozen, the worker accepts, reads and closes nothing: its fd table is what the kill cuts.
          if (!(await freeze(pid))) continue;
          const clientPorts = await heldConnections(pid, [linePort, httpPort]);
          const held = clientPorts.length;
          if (how === 'SIGKILL') process.kill(pid, 'SIGKILL');
          victims.push({ pid, master, how, held, clientPorts, beat, atMs: at });
          signals.push(`+${at} ${new Date().toISOString()} ${how} ${pid} held=${held} beat=${beat}`);
        } else if (!quiet) {
          continue;
        } else if (action < 0.6) {
          process.kill(master, 'SIGHUP');
          signals.push(`+${at} HUP ${master}`);
        } else if (action < 0.75) {
          if (target >= MAX_WORKERS || scalePending(master)) continue;
          scale(master, 'SIGTTIN');
          signals.push(`+${at} TTIN ${master} -> ${target + 1}`);
        } else if (action < 0.9) {
          if (target <= MIN_WORKERS || scalePending(master)) continue;
          scale(master, 'SIGTTOU');
          signals.push(`+${at} TTOU ${master} -> ${target - 1}`);
        } else {
          if (upgrades >= maxUpgrades) continue;
          upgrades++;
          upgradingFrom = master;
          upgradeMark = raas.entries.length;
          process.kill(master, 'SIGUSR2');
          signals.push(`+${at} USR2 ${master}`);
        }
      }
      loopDelay.disable();
      note(`chaos done: ${signals.length} signals; the test's event-loop delay max ${Math.round(loopDelay.max / 1e6)} ms\n${signals.join('\n')}`);

      // ---- settle ---------------------------------------------------------------------------
      await waitUntil('the upgrade in progress finished', () => upgradeOver() && !fs.existsSync(`${pidFile}.oldbin`), 90_000);
      const master = readPidFile(pidFile)!;
      assert.ok(isAlive(master), `the master the pid file names (${master}) is alive`);
      // Back to the starting count, one signal at a time (see scalePending).
      // A scale signal of the chaos may still be on its way: its count is known once it is logged.
      await raas.waitFor(`master ${master} handled our last scale signal`, () => !scalePending(master), 30_000);
      for (let i = 0; i < 2 * MAX_WORKERS && targetOf(master) !== WORKERS; i++) {
        scale(master, targetOf(master) < WORKERS ? 'SIGTTIN' : 'SIGTTOU');
        await raas.waitFor(`master ${master} handled our last scale signal`, () => !scalePending(master), 30_000);
      }
      assert.equal(targetOf(master), WORKERS, `master ${master} back to ${WORKERS} workers`);
      // Every frozen worker is killed by a master (past `timeout`), every victim is gone.
      for (const v of victims) {
        // Dead first (a zombie counts as dead), then its master reaps it and logs the exit.
        await waitUntil(`victim ${v.pid} (${v.how}) gone`, () => !isAlive(v.pid), 60_000);
        const exit = await raas.waitFor(
          `an exit line for victim ${v.pid}`,
          () => workerExit(raas, v.master, v.pid) ?? raas.entries.find((e) => e.event === LOG.WORKER_EXIT && e.worker_pid === String(v.pid)),
          30_000,
        );
        assert.equal(exit.signal, 'SIGKILL', `victim ${v.pid} (${v.how}) ended by SIGKILL: ${JSON.stringify(exit)}`);
      }
      await raas.waitFor(
        `master ${master}: exactly ${WORKERS} workers, all ready`,
        () => workersOf(raas, master).length === WORKERS && readyWorkersOf(raas, master).length === WORKERS,
        90_000,
      );
      const otherMasters = raas.masterPids().filter((p) => p !== master);
      for (const pid of otherMasters) await waitUntil(`old master ${pid} gone`, () => !isAlive(pid), 60_000);
      await servedMore('after the chaos');

      // ---- the master is back where it was --------------------------------------------------
      await waitUntil('no zombie child of the master', () => zombieChildren(master).length === 0, 30_000);
      // Closing fds of exited workers follows their exit events: wait for the count, with a deadline.
      await waitUntil(`master fds back to ${before.fds} (±2)`, () => Math.abs(fdCount(master) - before.fds) <= 2, 30_000).catch(() => {
        assert.fail(`master ${master} fds ${fdCount(master)} vs ${before.fds} before:\n${fdListing(master)}`);
      });
      const afterRss = rssBytes(master);
      note(`master ${master} after: ${fdCount(master)} fds, RSS ${(afterRss / 2 ** 20).toFixed(1)} MiB`);
      assert.ok(afterRss <= before.rss + 20 * 2 ** 20, `master RSS ${afterRss} within 20 MiB of ${before.rss}`);

      // ---- the clients ----------------------------------------------------------------------
      const reports = { line: await line.stop(), keep: await keep.stop(), close: await close.stop() };
      const failed = failures(reports.line, reports.keep, reports.close);
      const total = Object.values(failed).reduce((a, b) => a + b, 0);
      const bound = victims.reduce((a, v) => a + v.held, 0);
      const beatSum = victims.reduce((a, v) => a + (v.beat ?? 0), 0);
      const ok = reports.line.ok + reports.keep.ok + reports.close.ok;
      note(
        `${ok} requests ok; ${total} failed, bound ${bound} (held by ${victims.length} victims at their kill; last beats said ${beatSum}); ` +
          `failures ${JSON.stringify(failed)}; samples\n${[...reports.line.samples.map((x) => `line ${x}`), ...reports.keep.samples.map((x) => `keep ${x}`), ...reports.close.samples.map((x) => `close ${x}`)].map((x) => x.replace(/\/reverse\S*/, '')).join('\n')}`,
      );
      for (const kind of Object.keys(failed)) assert.match(kind.split(' ')[1]!, CUT_KINDS, `only cut connections fail: ${JSON.stringify(failed)}`);
      assert.ok(total <= bound, `${total} failures > ${bound} connections held by killed workers`);
      // Finer: each failed request went out on a connection one of the victims held when frozen
      // (by the client's port; a port reused later could only hide a failure, never invent one).
      const cutPorts = new Set(victims.flatMap((v) => v.clientPorts));
      const failedPorts = [...reports.line.failedPorts, ...reports.keep.failedPorts, ...reports.close.failedPorts];
      assert.equal(failedPorts.length, total, 'every failed request had connected (a port): none refused or never connected');
      const unexplained = failedPorts.filter((p) => !cutPorts.has(p));
      assert.deepEqual(unexplained, [], 'failed requests on connections no killed worker held (client ports)');
      const errors = raas.entries.filter((e) => e.level === 'error' && e.event !== LOG.WORKER_EXIT && e.event !== LOG.WORKER_TIMEOUT);
      assert.deepEqual(errors, [], 'no error but the kills');
      // Every line on the masters' stderr is a log line (an exiting worker once printed Node's
      // "Waiting for the debugger to disconnect..." there: its watchdog's inspector session).
      assert.deepEqual(raas.lines.filter((_, i) => raas.entries[i]?.event === undefined), [], 'no stray line in the log');

      // ---- reaped ---------------------------------------------------------------------------
      process.kill(master, 'SIGQUIT');
      await raas.waitForEvent(LOG.STOPPED, { role: 'master', pid: String(master) }, { timeoutMs: 60_000 });
      const everyPid = new Set<number>([...raas.masterPids(), ...raas.entries.filter((e) => e.worker_pid).map((e) => Number(e.worker_pid))]);
      for (const pid of everyPid) await waitUntil(`process ${pid} reaped`, () => !isAlive(pid), 30_000);
      if (raas.alive) await raas.waitExit();
    } finally {
      await Promise.all([line.stop(), keep.stop(), close.stop()]);
      fs.writeFileSync(path.join(dir, 'raas.log'), raas.lines.join('\n') + '\n');
      note(`the masters' log: ${path.join(dir, 'raas.log')}`);
    }
  });
});
