// Integration: a master whose log pipe was closed (`raas ... 2>&1 | head -3`) keeps serving,
// its workers do not spin writing errors to the dead pipe, and QUIT still stops everything.
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { lineRequest } from '../helpers/clients.js';
import { childPids } from '../helpers/proc-sockets.js';
import { CLI, isAlive, tmpDir, waitUntil } from '../helpers/raas.js';

const CLEAN_ENV = { RAAS_WORKERS: '', WEB_CONCURRENCY: '', RAAS_LISTEN: '', RAAS_LOG_FILE: '', RAAS_APP: '' };
const ours = new Set<number>();
after(() => {
  for (const pid of ours) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

/** CPU ticks (utime + stime) a process used so far; null once it is gone (it may exit while we look). */
function cpuTicks(pid: number): number | null {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/**
 * Share of one CPU each process used over `ms` (ticks are 1/100 s on Linux). Time itself is what
 * is measured here, so this waits `ms`. A process that exits meanwhile has no share (null).
 */
async function cpuShare(pids: number[], ms: number): Promise<Array<number | null>> {
  const before = pids.map(cpuTicks);
  const start = Date.now();
  // time is tested: a share of CPU is ticks over a stretch of time; this is that stretch.
  await new Promise((r) => setTimeout(r, ms));
  const elapsed = (Date.now() - start) / 1000;
  return pids.map((p, i) => {
    const [was, is] = [before[i], cpuTicks(p)];
    return was === null || was === undefined || is === null ? null : (is - was) / 100 / elapsed;
  });
}

/** The master's children that are RAAS workers (not a transient helper it runs). */
function workerPids(master: number): number[] {
  return childPids(master).filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('[RAAS] worker');
    } catch {
      return false;
    }
  });
}

describe('closed log pipe', () => {
  it('keeps the master serving and its workers idle; QUIT stops everything', async () => {
    const dir = tmpDir();
    const sock = path.join(dir, 'raas.sock');
    const master = spawn(process.execPath, [CLI, '--listen', `unix:${sock}`, '-w', '2'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...CLEAN_ENV },
      detached: true,
    });
    ours.add(master.pid!);
    const exited = new Promise<number | null>((resolve) => master.on('exit', (code) => resolve(code)));
    // Read the first lines, as `head -3` would, then close the read ends of both pipes.
    let text = '';
    master.stderr!.setEncoding('utf8');
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ready line: ${text}`)), 20_000);
      master.stderr!.on('data', (chunk: string) => {
        text += chunk;
        if (text.includes('event=ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    master.stderr!.destroy();
    master.stdout!.destroy();
    // Workers by their title: the master also runs `ss` now and then for its Unix listener's queue
    // depth (queue-depth.ts), a child of its own (CI run 2 on Node 26 counted 3 children here).
    const workers = workerPids(master.pid!);
    assert.equal(workers.length, 2);
    for (const pid of workers) ours.add(pid);

    // Everything that logs: a client, more workers (TTIN), a reload (HUP), a worker killed.
    assert.equal(await lineRequest({ path: sock }, 'hello\n'), 'olleh\n');
    process.kill(master.pid!, 'SIGTTIN');
    await waitUntil('a third worker', () => workerPids(master.pid!).length === 3, 20_000);
    // A reload goes back to the configured 2 workers (TTIN's third is not configuration).
    const beforeReload = workerPids(master.pid!);
    process.kill(master.pid!, 'SIGHUP');
    process.kill(workers[0]!, 'SIGKILL');
    // The kill and the reload overlap, so how many workers there are meanwhile passes through
    // several values; what must hold is that the killed one is gone (the pool is checked below).
    await waitUntil('the killed worker gone', () => !isAlive(workers[0]!) && !workerPids(master.pid!).includes(workers[0]!), 20_000);
    for (let i = 0; i < 20; i++) assert.equal(await lineRequest({ path: sock }, `n${i}\n`), `${String(i).split("").reverse().join("")}n\n`);
    // Let every logged line hit the dead pipe (the reload rolls the pool: old workers drain and
    // log their exits), then sample the master and the new pool.
    await waitUntil('the reload rolled the pool', () => {
      const now = workerPids(master.pid!);
      return now.length === 2 && now.every((p) => !beforeReload.includes(p));
    }, 20_000);
    assert.equal(isAlive(master.pid!), true, 'the master died of its log');
    const pool = workerPids(master.pid!);
    for (const pid of pool) ours.add(pid);
    const shares = await cpuShare([master.pid!, ...pool], 2000);
    const shown = shares.map((s) => (s === null ? 'gone' : s.toFixed(2))).join(' ');
    assert.notEqual(shares[0], null, 'the master died of its log');
    assert.ok(shares.filter((s) => s !== null).length >= 2, `a worker held while sampled: ${shown}`);
    for (const share of shares) assert.ok(share === null || share < 0.15, `CPU shares ${shown}`);
    assert.equal(await lineRequest({ path: sock }, 'still\n'), 'llits\n');

    process.kill(master.pid!, 'SIGQUIT');
    const code = await exited;
    assert.equal(code, 0);
    await waitUntil('workers gone', () => pool.every((p) => !isAlive(p)), 10_000);
  });
});
