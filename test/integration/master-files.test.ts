// Integration: the master's pid and status files cannot be subverted by another local user:
// symlinks planted at the temp names the master used to write through, a pid path that is a
// directory, a directory every user may write, files owned by someone else, umask 000.
// Runs in: the test runner process; drives real masters (through sh wrappers that plant files
// under the master's own pid before exec'ing it) and control commands.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { EXIT } from '../../src/exit-codes.js';
import { LOG } from '../../src/log.js';
import { statusPath } from '../../src/master/files/status-file.js';
import { lineRequest } from '../helpers/clients.js';
import { CLI, reapAll, startRaas, tmpDir, waitUntil } from '../helpers/raas.js';

after(reapAll);

const asRoot = process.getuid?.() === 0;

function control(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** A wrapper that runs `script` in sh (where $$ is the pid the master will have), then execs it. */
function shell(script: string): string[] {
  return ['sh', '-c', `${script}\nexec "$@"`, 'sh'];
}

const mode = (file: string): number => fs.statSync(file).mode & 0o7777;

describe('pid and status files', () => {
  it('are not written through symlinks planted at the temp names they used to have', async () => {
    const dir = tmpDir('raas-files-');
    const pidFile = path.join(dir, 'raas.pid');
    const victim = path.join(dir, 'victim');
    fs.writeFileSync(victim, 'must stay\n');
    fs.chmodSync(victim, 0o600);
    // FILE.<pid>.tmp and FILE.<pid>.status.json.tmp were the names, predictable from the pid.
    const wrapper = shell(`ln -s ${victim} ${pidFile}.$$.tmp && ln -s ${victim} ${pidFile}.$$.status.json.tmp`);
    const raas = await startRaas({ args: ['--listen', '127.0.0.1:0', '-w', '1', '--pid', pidFile], wrapper });
    const status = statusPath(pidFile, raas.pid);
    await waitUntil('the status file', () => fs.existsSync(status));
    assert.equal(fs.readFileSync(victim, 'utf8'), 'must stay\n');
    assert.equal(mode(victim), 0o600);
    assert.ok(fs.lstatSync(pidFile).isFile(), 'the pid file is a file of its own, not a link');
    assert.equal(fs.readFileSync(pidFile, 'utf8'), `${raas.pid}\n`);
    assert.ok(fs.lstatSync(status).isFile());
    assert.equal(JSON.parse(fs.readFileSync(status, 'utf8')).pid, raas.pid);
    const res = await control(['status', '--pid', pidFile]);
    assert.equal(res.code, 0, res.stderr);
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
    assert.equal(fs.readFileSync(victim, 'utf8'), 'must stay\n');
    // Only the planted links are left: no temp file of ours.
    assert.deepEqual(fs.readdirSync(dir).filter((f) => !f.includes(`.${raas.pid}.`)), ['victim']);
  });

  it('get their modes (pid 0644, status 0600, Unix socket socket-mode) under umask 000', async () => {
    const dir = tmpDir('raas-files-');
    const pidFile = path.join(dir, 'raas.pid');
    const sock = path.join(dir, 'line.sock');
    const sock2 = path.join(dir, 'line2.sock');
    const args = ['--listen', `unix:${sock}`, '--listen', `unix:${sock2}`, '-w', '1', '--pid', pidFile];
    const raas = await startRaas({ args, wrapper: shell('umask 000') });
    await waitUntil('the status file', () => fs.existsSync(statusPath(pidFile, raas.pid)));
    assert.equal(mode(pidFile), 0o644);
    assert.equal(mode(statusPath(pidFile, raas.pid)), 0o600);
    assert.equal(mode(sock), 0o660);
    assert.equal(mode(sock2), 0o660);
    assert.equal(await lineRequest({ path: sock }, 'umask\n'), 'ksamu\n');
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);

    const strict = await startRaas({ args: [...args, '--socket-mode', '0600'], wrapper: shell('umask 000') });
    assert.equal(mode(sock), 0o600);
    strict.signal('SIGQUIT');
    assert.equal((await strict.waitExit()).code, 0);
  });

  it('a status file that cannot be written is logged, and the control command does not trust what is there', async () => {
    const dir = tmpDir('raas-files-');
    const pidFile = path.join(dir, 'raas.pid');
    // Something else holds the status path (here a directory): the rename fails.
    const raas = await startRaas({
      args: ['--listen', '127.0.0.1:0', '-w', '1', '--pid', pidFile],
      wrapper: shell(`mkdir ${pidFile}.$$.status.json`),
    });
    const error = await raas.waitForEvent(LOG.STATUS_FILE_ERROR);
    assert.match(error.error ?? '', /is a directory/);
    const res = await control(['reload', '--pid', pidFile]);
    assert.equal(res.code, EXIT.CONTROL_FAILED);
    assert.match(res.stderr, /status file not trusted: .*is a directory/);
    assert.equal(raas.events(LOG.SIGNAL).length, 0, 'nothing was signalled');
    assert.equal(raas.events(LOG.STATUS_FILE_ERROR).length, 1, 'said once, not at every change');
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temp file left behind');
  });

  it('a status file owned by another user is ignored, with a clear message', { skip: !asRoot && 'needs root to chown' }, async () => {
    const dir = tmpDir('raas-files-');
    const pidFile = path.join(dir, 'raas.pid');
    const raas = await startRaas({ args: ['--listen', '127.0.0.1:0', '-w', '1', '--pid', pidFile] });
    const status = statusPath(pidFile, raas.pid);
    await waitUntil('the status file', () => fs.existsSync(status));
    assert.equal((await control(['status', '--pid', pidFile])).code, 0);
    fs.chownSync(status, 65534, 65534);
    const res = await control(['status', '--pid', pidFile]);
    assert.equal(res.code, EXIT.CONTROL_FAILED, res.stdout);
    assert.match(res.stderr, new RegExp(`status file not trusted: ${status} is owned by uid 65534, not by uid 0: ignored`));
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });
});

describe('a pid file that cannot be claimed exits with its own code (7), not "already running" (5)', () => {
  async function refusedStart(pidFile: string, why: RegExp): Promise<void> {
    const raas = await startRaas({ args: ['--listen', '127.0.0.1:0', '-w', '1', '--pid', pidFile], waitReady: false });
    const exit = await raas.waitExit();
    assert.equal(exit.code, EXIT.PIDFILE, raas.lines.join('\n'));
    const [entry] = raas.events(LOG.PIDFILE_ERROR);
    assert.ok(entry, raas.lines.join('\n'));
    assert.ok(entry.error?.includes(pidFile), entry.error);
    assert.match(entry.error ?? '', why);
    assert.deepEqual(raas.events(LOG.WORKER_SPAWN), []);
  }

  it('a pid path that is a directory: refused, nothing left behind', async () => {
    const dir = tmpDir('raas-files-');
    const pidFile = path.join(dir, 'raas.pid');
    fs.mkdirSync(pidFile);
    await refusedStart(pidFile, /is a directory/);
    assert.deepEqual(fs.readdirSync(dir), ['raas.pid']);
    assert.deepEqual(fs.readdirSync(pidFile), []);
  });

  it('a directory every user can write: refused; the same directory made sticky: accepted', async () => {
    const dir = tmpDir('raas-files-');
    const pidFile = path.join(dir, 'raas.pid');
    fs.chmodSync(dir, 0o777);
    await refusedStart(pidFile, /writable by every user and not sticky/);
    assert.deepEqual(fs.readdirSync(dir), []);
    fs.chmodSync(dir, 0o1777);
    const raas = await startRaas({ args: ['--listen', '127.0.0.1:0', '-w', '1', '--pid', pidFile] });
    assert.equal(fs.readFileSync(pidFile, 'utf8'), `${raas.pid}\n`);
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });

  it('a missing directory', async () => {
    const dir = tmpDir('raas-files-');
    await refusedStart(path.join(dir, 'nope', 'raas.pid'), /not usable: ENOENT/);
  });

  it('a pid file of another user in a sticky directory', { skip: !asRoot && 'needs root to chown' }, async () => {
    const dir = tmpDir('raas-files-');
    fs.chmodSync(dir, 0o1777);
    const pidFile = path.join(dir, 'raas.pid');
    fs.writeFileSync(pidFile, '1\n');
    fs.chownSync(pidFile, 65534, 65534);
    await refusedStart(pidFile, /owned by uid 65534/);
    assert.equal(fs.readFileSync(pidFile, 'utf8'), '1\n');
  });
});
