// Integration: USR1 reopens the log file by name (logrotate: rename, then signal). The master and
// every worker write to the new file from then on, replacements too, and no line is ever split
// or interleaved, in either file. Under load, failing no request.
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { LOG } from '../../src/log.js';
import { LineLoad, targetOf } from '../helpers/clients.js';
import { malformedLines, readLogFile, waitForLog, waitForLogEvent } from '../helpers/log-file.js';
import { isAlive, reapAll, startRaas, tmpDir, waitUntil } from '../helpers/raas.js';

after(reapAll);

async function served(load: LineLoad, more: number): Promise<void> {
  const before = load.ok;
  await waitUntil(`${more} more requests served`, () => load.ok >= before + more, 10_000);
}

describe('reopen logs (USR1)', () => {
  it('after rename + USR1, the master, the workers and a replacement write whole lines to the new file', async (t) => {
    const dir = tmpDir();
    const logFile = path.join(dir, 'raas.log');
    const rotated = path.join(dir, 'raas.log.1');
    const raas = await startRaas({
      args: ['--listen', '127.0.0.1:0', '-w', '2', '--log-file', logFile],
      env: { RAAS_LOG_FILE: '' },
      waitReady: false,
    });
    const ready = await waitForLogEvent(logFile, LOG.READY, { role: 'master', pid: String(raas.pid) }, { timeoutMs: 20_000 });
    const tcp = ready.listen!.split(',')[0]!;
    // Both workers are listening (their own lines reached the file).
    const workers = await waitForLog(logFile, 'two workers listening', (c) => {
      const pids = c.entries.filter((e) => e.role === 'worker' && e.event === LOG.WORKER_LISTENING).map((e) => Number(e.pid));
      return pids.length === 2 && pids;
    });
    const load = new LineLoad(targetOf(tcp), 50);
    t.after(() => load.stop());
    await served(load, 200);

    // logrotate: rename, then signal. Until the signal, everything still goes to the renamed file.
    fs.renameSync(logFile, rotated);
    assert.equal(fs.existsSync(logFile), false);
    raas.signal('SIGUSR1');
    const reopened = await waitForLogEvent(logFile, LOG.LOGS_REOPENED, { role: 'master', pid: String(raas.pid) });
    assert.equal(reopened.level, 'info');
    const old = readLogFile(rotated);
    assert.ok(
      old.entries.some((e) => e.event === LOG.SIGNAL && e.signal === 'SIGUSR1' && e.action === 'reopen-logs'),
      'the USR1 line itself belongs to the old file',
    );
    assert.deepEqual(old.entries.filter((e) => e.event === LOG.LOGS_REOPENED), []);
    await served(load, 200);

    // Stop one worker gracefully (no client may fail); it drains, writing to the new file, and
    // its replacement writes there from birth.
    const [victim, survivor] = workers as [number, number];
    process.kill(victim, 'SIGQUIT');
    await waitForLogEvent(logFile, LOG.WORKER_DRAINED, { role: 'worker', pid: String(victim) });
    const exit = await waitForLogEvent(logFile, LOG.WORKER_EXIT, { role: 'master', worker_pid: String(victim) });
    const spawn = await waitForLogEvent(logFile, LOG.WORKER_SPAWN, { role: 'master', slot: exit.slot! });
    const replacement = spawn.worker_pid!;
    await waitForLogEvent(logFile, LOG.WORKER_READY, { role: 'master', worker_pid: replacement });
    await waitForLogEvent(logFile, LOG.WORKER_LISTENING, { role: 'worker', pid: replacement });
    await waitUntil('victim gone', () => !isAlive(victim));
    assert.equal(isAlive(survivor), true);
    assert.equal(isAlive(Number(replacement)), true);
    await served(load, 300);
    const report = await load.stop();
    assert.deepEqual(report.failures, {});

    // The survivor (started before the rotation) reopened too: its drain lines land in the new file.
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
    await waitForLogEvent(logFile, LOG.STOPPED, { role: 'master', pid: String(raas.pid) });
    const fresh = readLogFile(logFile);
    for (const pid of [String(survivor), replacement]) {
      assert.ok(
        fresh.entries.some((e) => e.role === 'worker' && e.pid === pid && e.event === LOG.WORKER_DRAINED),
        `worker ${pid} should log its drain to the new file`,
      );
    }
    const oldAfter = readLogFile(rotated);
    for (const event of [LOG.WORKER_DRAINING, LOG.WORKER_DRAINED, LOG.STOPPING, LOG.STOPPED]) {
      assert.deepEqual(oldAfter.entries.filter((e) => e.event === event), [], `${event} in the rotated file`);
    }
    assert.deepEqual(oldAfter.entries.filter((e) => e.pid === replacement || e.worker_pid === replacement), []);
    // Nothing was written to the old file once the master reopened.
    assert.equal(oldAfter.lines.length, old.lines.length, oldAfter.lines.slice(old.lines.length).join('\n'));

    // Whole lines only, in both files: each parses, has time, level and event, ends with "\n".
    for (const content of [oldAfter, fresh]) {
      assert.equal(content.partial, '');
      assert.ok(content.lines.length > 5);
      assert.deepEqual(malformedLines(content.lines), []);
    }
    // stderr stayed quiet: everything went to the file.
    assert.deepEqual(raas.lines, []);
  });

  it('a log file that cannot be reopened does not take the master or its workers down', async (t) => {
    const dir = tmpDir();
    const logDir = path.join(dir, 'logs');
    fs.mkdirSync(logDir);
    const logFile = path.join(logDir, 'raas.log');
    const raas = await startRaas({
      args: ['--listen', '127.0.0.1:0', '-w', '2', '--log-file', logFile],
      env: { RAAS_LOG_FILE: '' },
      waitReady: false,
    });
    const ready = await waitForLogEvent(logFile, LOG.READY, { role: 'master', pid: String(raas.pid) }, { timeoutMs: 20_000 });
    const workers = await waitForLog(logFile, 'two workers listening', (c) => {
      const pids = c.entries.filter((e) => e.role === 'worker' && e.event === LOG.WORKER_LISTENING).map((e) => Number(e.pid));
      return pids.length === 2 && pids;
    });
    const load = new LineLoad(targetOf(ready.listen!.split(',')[0]!), 50);
    t.after(() => load.stop());
    await served(load, 200);

    // The directory disappears (moved away by a rotation tool, a tmp cleaner...): reopening fails.
    const movedFile = path.join(dir, 'logs.old', 'raas.log');
    fs.renameSync(logDir, path.dirname(movedFile));
    raas.signal('SIGUSR1');
    await waitForLog(movedFile, 'the USR1 line', (c) => c.entries.some((e) => e.event === LOG.SIGNAL && e.signal === 'SIGUSR1'));
    const before = load.ok;
    await waitUntil('300 more requests served, or the master dead', () => !raas.alive || load.ok >= before + 300, 10_000);
    assert.equal(raas.alive, true, `the master died on a failed reopen: ${raas.lines.join('\n').slice(0, 600)}`);
    for (const pid of workers) assert.equal(isAlive(pid), true, `worker ${pid} died`);

    // Once the directory is back, the next USR1 reopens normally.
    fs.mkdirSync(logDir);
    raas.signal('SIGUSR1');
    await waitForLogEvent(logFile, LOG.LOGS_REOPENED, { role: 'master', pid: String(raas.pid) });
    await served(load, 200);
    const report = await load.stop();
    assert.deepEqual(report.failures, {});
    for (const pid of workers) assert.equal(isAlive(pid), true, `worker ${pid} died`);
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });
});
