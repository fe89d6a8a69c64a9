// Integration: the pid file names the master, keeps a second master with the same file from
// starting (and is left as it was), is taken over when stale, and is removed when the master exits.
// Runs in: the test runner process; drives real processes and signals.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { EXIT } from '../../src/exit-codes.js';
import { LOG } from '../../src/log.js';
import { lineRequest, targetOf } from '../helpers/clients.js';
import { readPidFile } from '../helpers/masters.js';
import { isAlive, processArgs, reapAll, startRaas, tmpDir } from '../helpers/raas.js';

after(reapAll);

function pidFileIn(dir = tmpDir('raas-pidfile-')): string {
  return path.join(dir, 'raas.pid');
}

/** The pid of a process that has exited (and been reaped): a pid nothing answers to. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  const pid = child.pid!;
  await new Promise((resolve) => child.on('exit', resolve));
  assert.equal(isAlive(pid), false);
  return pid;
}

async function assertReplacedAndServes(pidFile: string): Promise<void> {
  const raas = await startRaas({ args: ['--listen', '127.0.0.1:0', '-w', '1', '--pid', pidFile] });
  const [tcp] = await raas.ready();
  assert.equal(readPidFile(pidFile), raas.pid);
  assert.equal(await lineRequest(targetOf(tcp!), 'stale\n'), 'elats\n');
  assert.deepEqual(raas.events(LOG.PIDFILE_ERROR), []);
  raas.signal('SIGQUIT');
  assert.equal((await raas.waitExit()).code, 0);
  assert.equal(fs.existsSync(pidFile), false);
}

describe('pid file', () => {
  it('holds the master pid while it runs and is removed when it exits after QUIT', async () => {
    const pidFile = pidFileIn();
    const raas = await startRaas({ args: ['--listen', '127.0.0.1:0', '-w', '1', '--pid', pidFile] });
    assert.equal(fs.readFileSync(pidFile, 'utf8'), `${raas.pid}\n`);
    assert.match(processArgs(raas.pid), /^\[RAAS\] master/);
    raas.signal('SIGQUIT');
    assert.deepEqual(await raas.waitExit(), { code: 0, signal: null });
    assert.equal(fs.existsSync(pidFile), false);
    assert.equal(fs.existsSync(`${pidFile}.oldbin`), false);
  });

  it('a second master with the same pid file refuses to start and leaves the file alone', async () => {
    const pidFile = pidFileIn();
    const first = await startRaas({ args: ['--listen', '127.0.0.1:0', '-w', '1', '--pid', pidFile] });
    const [tcp] = await first.ready();
    const before = fs.statSync(pidFile);
    const content = fs.readFileSync(pidFile, 'utf8');

    const second = await startRaas({ args: ['--listen', '127.0.0.1:0', '-w', '1', '--pid', pidFile], waitReady: false });
    const exit = await second.waitExit();
    assert.notEqual(exit.code, 0);
    assert.equal(exit.code, EXIT.ALREADY_RUNNING);
    const refusal = second.lines.join('\n');
    assert.ok(refusal.includes(pidFile), `the refusal names the pid file:\n${refusal}`);
    assert.ok(refusal.includes(String(first.pid)), `the refusal names the running master:\n${refusal}`);
    assert.deepEqual(second.events(LOG.WORKER_SPAWN), [], 'the refused master started no worker');

    const now = fs.statSync(pidFile);
    assert.equal(fs.readFileSync(pidFile, 'utf8'), content);
    assert.equal(now.ino, before.ino, 'not rewritten');
    assert.equal(now.mtimeMs, before.mtimeMs);
    assert.ok(first.alive);
    assert.equal(await lineRequest(targetOf(tcp!), 'first\n'), 'tsrif\n');

    first.signal('SIGQUIT');
    assert.equal((await first.waitExit()).code, 0);
    assert.equal(fs.existsSync(pidFile), false);
  });

  it('replaces a stale pid file naming a dead process', async () => {
    const pidFile = pidFileIn();
    fs.writeFileSync(pidFile, `${await deadPid()}\n`);
    await assertReplacedAndServes(pidFile);
  });

  it('replaces a pid file naming a live process that is not a RAAS master', async () => {
    const pidFile = pidFileIn();
    // The test runner itself: alive, but not a master.
    assert.doesNotMatch(processArgs(process.pid), /^\[[^\]]+\] master/);
    fs.writeFileSync(pidFile, `${process.pid}\n`);
    await assertReplacedAndServes(pidFile);
  });

  it('replaces a pid file holding garbage', async () => {
    const pidFile = pidFileIn();
    fs.writeFileSync(pidFile, 'not a pid\n');
    await assertReplacedAndServes(pidFile);
  });
});
