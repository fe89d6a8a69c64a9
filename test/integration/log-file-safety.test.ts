// Integration: the log files (log-file, access-log) are opened like the pid file: a symlink planted
// by another user is refused (it would make a root master append to a file of the attacker's
// choosing), so is a file of another user; a file RAAS creates is 0640 whatever the umask; USR1
// reopens the same way (a refused file keeps the old fd and says so).
// Runs in: the test runner process (as root: it hands files to `nobody`); drives real masters,
// workers and signals.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { EXIT } from '../../src/exit-codes.js';
import { LOG } from '../../src/log.js';
import { readLogFile, waitForLog, waitForLogEvent } from '../helpers/log-file.js';
import { reapAll, startRaas, tmpDir } from '../helpers/raas.js';

after(reapAll);

const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
/** Runs the master under `umask 000` (exec: the master is the process the test started). */
const UMASK_000 = ['/bin/sh', '-c', 'umask 000; exec "$@"', 'sh'];

/**
 * The attack: a root-only file, and a directory of another user (`nobody`, say the app's log
 * directory) where that user planted a symlink to it under the log's name.
 */
function plantSymlink(name: string): { dir: string; link: string; secret: string; secretText: string } {
  const dir = tmpDir('raas-logsafe-');
  const secret = path.join(dir, 'root-only');
  const secretText = 'root:only:secret\n';
  fs.writeFileSync(secret, secretText, { mode: 0o600 });
  const theirs = path.join(dir, 'theirs');
  fs.mkdirSync(theirs);
  const link = path.join(theirs, name);
  fs.symlinkSync(secret, link);
  fs.lchownSync(link, NOBODY, NOBODY);
  fs.chownSync(theirs, NOBODY, NOBODY);
  return { dir, link, secret, secretText };
}

function get(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', reject);
  });
}

describe('log files refuse links and other users\' files, and are created 0640', { skip: !isRoot && 'needs root (chown to nobody)' }, () => {
  it('--log-file through a planted symlink: a config error naming log-file, nothing appended to the target', async () => {
    const { link, secret, secretText } = plantSymlink('raas.log');
    const raas = await startRaas({ args: ['--listen', '127.0.0.1:0', '-w', '1', '--log-file', link], waitReady: false });
    const exit = await raas.waitExit(20_000);
    assert.equal(exit.code, EXIT.CONFIG, raas.lines.join('\n'));
    assert.match(raas.lines.join('\n'), /log-file .*symbolic link/);
    assert.equal(fs.readFileSync(secret, 'utf8'), secretText, 'the root-only file is untouched');
  });

  it('--access-log through a planted symlink: a config error naming access-log, nothing appended to the target', async () => {
    const { link, secret, secretText } = plantSymlink('access.log');
    const raas = await startRaas({ args: ['--listen', 'http://127.0.0.1:0', '-w', '1', '--access-log', link], waitReady: false });
    const exit = await raas.waitExit(20_000);
    assert.equal(exit.code, EXIT.CONFIG, raas.lines.join('\n'));
    const refused = raas.events(LOG.CONFIG_ERROR).find((e) => e.setting === 'access-log');
    assert.match(refused?.error ?? '', /symbolic link/);
    assert.equal(raas.events(LOG.WORKER_SPAWN).length, 0, 'refused before any worker');
    assert.equal(fs.readFileSync(secret, 'utf8'), secretText, 'the root-only file is untouched');
  });

  it('a log file that belongs to another user is refused, for either setting', async () => {
    const dir = tmpDir('raas-logsafe-');
    const theirs = path.join(dir, 'theirs.log');
    fs.writeFileSync(theirs, '');
    fs.chownSync(theirs, NOBODY, NOBODY);
    for (const setting of ['log-file', 'access-log']) {
      const raas = await startRaas({ args: ['--listen', 'http://127.0.0.1:0', '-w', '1', `--${setting}`, theirs], waitReady: false });
      const exit = await raas.waitExit(20_000);
      assert.equal(exit.code, EXIT.CONFIG, `${setting}: ${raas.lines.join('\n')}`);
      assert.match(raas.lines.join('\n'), new RegExp(`${setting}[^\\n]*owned by uid ${NOBODY}`));
    }
    assert.equal(fs.readFileSync(theirs, 'utf8'), '');
  });

  it('under umask 000 both files are created 0640, not world-writable', async () => {
    const dir = tmpDir('raas-logsafe-');
    const logFile = path.join(dir, 'raas.log');
    const accessLog = path.join(dir, 'access.log');
    const raas = await startRaas({
      args: ['--listen', 'http://127.0.0.1:0', '-w', '1', '--log-file', logFile, '--access-log', accessLog],
      wrapper: UMASK_000,
      waitReady: false,
    });
    const ready = await waitForLogEvent(logFile, LOG.READY, { role: 'master' }, { timeoutMs: 20_000 });
    // The wrapper exec'd: the master is the process started, so the umask was really 000.
    assert.equal(ready.pid, String(raas.pid));
    assert.equal(fs.readFileSync(`/proc/${raas.pid}/status`, 'utf8').match(/^Umask:\s*(\d+)/m)?.[1], '0000');
    assert.equal(await get(`${ready.listen!.split(',')[0]}/healthz`), 200);
    await waitForLog(accessLog, 'the access line', (c) => c.lines.some((l) => l.includes('/healthz')));
    assert.equal(fs.statSync(logFile).mode & 0o7777, 0o640);
    assert.equal(fs.statSync(accessLog).mode & 0o7777, 0o640);
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });

  it('USR1 after a symlink was planted at both names: log-reopen-failed, the old files keep the lines, the target stays untouched', async () => {
    const dir = tmpDir('raas-logsafe-');
    fs.chmodSync(dir, 0o755);
    const secret = path.join(dir, 'root-only');
    const secretText = 'root:only:secret\n';
    fs.writeFileSync(secret, secretText, { mode: 0o600 });
    const logFile = path.join(dir, 'raas.log');
    const accessLog = path.join(dir, 'access.log');
    const raas = await startRaas({
      args: ['--listen', 'http://127.0.0.1:0', '-w', '1', '--log-file', logFile, '--access-log', accessLog],
      waitReady: false,
    });
    const ready = await waitForLogEvent(logFile, LOG.READY, { role: 'master' }, { timeoutMs: 20_000 });
    const url = ready.listen!.split(',')[0]!;
    await waitForLog(logFile, 'the worker listening', (c) => c.entries.some((e) => e.role === 'worker' && e.event === LOG.WORKER_LISTENING));
    // Rotated away, and in its place a symlink of another user to the root-only file.
    fs.renameSync(logFile, `${logFile}.1`);
    fs.renameSync(accessLog, `${accessLog}.1`);
    for (const name of [logFile, accessLog]) {
      fs.symlinkSync(secret, name);
      fs.lchownSync(name, NOBODY, NOBODY);
    }
    raas.signal('SIGUSR1');
    const failures = await waitForLog(`${logFile}.1`, 'the master and the worker refusing both files', (c) => {
      const failed = c.entries.filter((e) => e.event === LOG.LOG_REOPEN_FAILED);
      const has = (role: string, file: string): boolean => failed.some((e) => e.role === role && e.path === file);
      return has('master', logFile) && has('worker', logFile) && has('worker', accessLog) && failed;
    });
    for (const failure of failures) assert.match(failure.error ?? '', /symbolic link/);
    // Both still write where they wrote before.
    assert.equal(await get(`${url}/healthz?after-usr1`), 200);
    await waitForLog(`${accessLog}.1`, 'the access line after USR1', (c) => c.lines.some((l) => l.includes('after-usr1')));
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
    assert.ok(readLogFile(`${logFile}.1`).entries.some((e) => e.event === LOG.STOPPED), 'the master logged to the old file to the end');
    assert.equal(fs.readFileSync(secret, 'utf8'), secretText, 'the root-only file is untouched');
  });
});
