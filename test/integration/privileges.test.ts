// Integration: `--user` / `--group`. A root master's workers drop to nobody:nogroup before the app
// loads (every thread of theirs, per /proc), the master stays root, HTTP, line and https:// listeners
// serve, a root-only 0600 TLS key still works, the log files keep receiving worker lines after the
// drop and after a logrotate-style rename + USR1, a drop that does not hold fails the boot, and
// bad settings stop the start with exit 2.
// Runs in: the test runner process (as root); drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EXIT } from '../../src/exit-codes.js';
import { LOG } from '../../src/log.js';
import { lineRequest, targetOf } from '../helpers/clients.js';
import { readLogFile, waitForLog, waitForLogEvent } from '../helpers/log-file.js';
import { reapAll, startRaas, tmpDir, waitUntil } from '../helpers/raas.js';

after(reapAll);

const fixture = (name: string): string => fileURLToPath(new URL(`../../../test/fixtures/${name}`, import.meta.url));
const APP = fixture('privileges-app.mjs');
const NOBODY = 65534;
const NOGROUP = 65534;

interface Ids {
  uid: number[];
  gid: number[];
  groups: number[];
}

/** Real, effective, saved and filesystem ids and the supplementary groups of a process or thread. */
function idsOf(statusFile: string): Ids {
  const text = fs.readFileSync(statusFile, 'utf8');
  const field = (name: string): number[] =>
    (new RegExp(`^${name}:(.*)$`, 'm').exec(text)?.[1] ?? '').trim().split(/\s+/).filter((s) => s !== '').map(Number);
  return { uid: field('Uid'), gid: field('Gid'), groups: field('Groups') };
}

/** The ids of every thread of `pid` (the watchdog thread and libuv's pool included). */
function threadIds(pid: number): Ids[] {
  return fs.readdirSync(`/proc/${pid}/task`).map((tid) => idsOf(`/proc/${pid}/task/${tid}/status`));
}

function get(url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const client = url.startsWith('https:') ? https : http;
    const req = client.get(url, { rejectUnauthorized: false, agent: false, timeout: 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** A directory the workers' user may search (the logs' home): tmpDir() makes 0700 ones. */
function searchableDir(prefix: string): string {
  const dir = tmpDir(prefix);
  fs.chmodSync(dir, 0o755);
  return dir;
}

/** A root-only 0600 file in a root-only 0700 directory. */
function rootSecret(): string {
  const file = path.join(tmpDir('raas-priv-secret-'), 'secret');
  fs.writeFileSync(file, 'root only\n', { mode: 0o600 });
  return file;
}

function workerPidsOf(logFile: string): number[] {
  return readLogFile(logFile).entries.filter((e) => e.event === LOG.WORKER_READY && e.role === 'master').map((e) => Number(e.worker_pid));
}

describe('privilege drop (--user, --group)', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, () => {
  before(() => {
    // The accounts these tests drop to must exist with the ids they expect.
    assert.equal(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim(), String(NOBODY));
    assert.equal(execFileSync('getent', ['group', 'nogroup'], { encoding: 'utf8' }).split(':')[2], String(NOGROUP));
  });

  it('workers run as nobody:nogroup (every thread), the master stays root; HTTP and line serve; logs follow the drop and a rotation', async () => {
    const dir = searchableDir('raas-priv-');
    const logFile = path.join(dir, 'raas.log');
    const accessLog = path.join(dir, 'access.log');
    const secret = rootSecret();
    const raas = await startRaas({
      args: ['-l', '127.0.0.1:0', '-l', 'http://127.0.0.1:0', '-w', '2', '--user', 'nobody', '--log-file', logFile, '--access-log', accessLog, '--app', APP],
      env: { TEST_SECRET: secret },
      waitReady: false,
    });
    const ready = await waitForLogEvent(logFile, LOG.READY, { role: 'master', pid: String(raas.pid) }, { timeoutMs: 20_000 });
    const [line, web] = (ready.listen ?? '').split(',');

    // Both workers dropped, each said so in the log file (opened as root, written as nobody).
    const workers = workerPidsOf(logFile);
    assert.equal(workers.length, 2);
    const dropped = readLogFile(logFile).entries.filter((e) => e.event === LOG.PRIVILEGES_DROPPED);
    assert.deepEqual(dropped.map((e) => Number(e.pid)).sort(), [...workers].sort());
    for (const e of dropped) assert.deepEqual([e.user, e.uid, e.gid, e.groups, e.level], ['nobody', '65534', '65534', '65534', 'info']);
    for (const pid of workers) {
      for (const ids of threadIds(pid)) {
        assert.deepEqual(ids, { uid: [NOBODY, NOBODY, NOBODY, NOBODY], gid: [NOGROUP, NOGROUP, NOGROUP, NOGROUP], groups: [NOGROUP] }, `worker ${pid}`);
      }
    }
    assert.deepEqual(idsOf(`/proc/${raas.pid}/status`).uid, [0, 0, 0, 0]);

    // Served as nobody: the app sees the ids and cannot read a root-only file; the line listener answers.
    const reply = await get(`${web}/`);
    assert.equal(reply.status, 200);
    assert.deepEqual(JSON.parse(reply.text), { uid: NOBODY, euid: NOBODY, gid: NOGROUP, egid: NOGROUP, groups: [NOGROUP], secret: 'EACCES' });
    assert.equal(await lineRequest(targetOf(line!), 'abc\n'), 'cba\n');
    await waitForLog(accessLog, 'the request in the access log', (c) => c.lines.some((l) => l.includes('"GET / HTTP/1.1" 200')));

    // logrotate without copytruncate: rename, USR1. The master creates the new files as root; the
    // workers, no longer root, must still reopen both and write to them.
    fs.renameSync(logFile, `${logFile}.1`);
    fs.renameSync(accessLog, `${accessLog}.1`);
    raas.signal('SIGUSR1');
    await waitForLogEvent(logFile, LOG.LOGS_REOPENED, { role: 'master', pid: String(raas.pid) });
    // The reopen is a message to each worker; a request's access line and a worker's own line
    // (its drain, on QUIT) prove that worker writes to the new files.
    await waitUntil('a request logged in the new access log', async () => {
      await get(`${web}/after-rotation`);
      return readLogFile(accessLog).lines.some((l) => l.includes('/after-rotation'));
    }, 15_000);
    const victim = workers[0]!;
    process.kill(victim, 'SIGQUIT');
    await waitForLogEvent(logFile, LOG.WORKER_DRAINING, { role: 'worker', pid: String(victim) });
    // Its replacement drops too, and logs to the new file.
    await waitForLog(logFile, 'a replacement worker dropping', (c) =>
      c.entries.some((e) => e.event === LOG.PRIVILEGES_DROPPED && !workers.includes(Number(e.pid))),
    );
    for (const file of [logFile, `${logFile}.1`]) {
      assert.deepEqual(readLogFile(file).entries.filter((e) => e.event === LOG.LOG_REOPEN_FAILED || e.level === 'error'), [], file);
    }
    // The files stay root's: the workers' group got write access, nothing more.
    for (const file of [logFile, accessLog]) {
      const stat = fs.statSync(file);
      assert.deepEqual([stat.uid, stat.gid, (stat.mode & 0o7777).toString(8)], [0, NOGROUP, '660'], file);
    }

    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit(20_000)).code, 0);
  });

  it('a root-only 0600 TLS key in a root-only directory: https:// served by workers that cannot read it', async () => {
    const keyDir = tmpDir('raas-priv-tls-');
    const cert = path.join(keyDir, 'tls.crt');
    const key = path.join(keyDir, 'tls.key');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=priv', '-addext', 'subjectAltName=IP:127.0.0.1',
    ], { stdio: 'ignore' });
    fs.chmodSync(key, 0o600);
    const raas = await startRaas({
      args: ['-l', 'https://127.0.0.1:0', '-w', '2', '--user', 'nobody', '--tls-cert', cert, '--tls-key', key, '--app', APP],
      env: { TEST_SECRET: key },
    });
    const [bound] = await raas.ready();
    const reply = await get(`${bound}/`);
    assert.equal(reply.status, 200);
    assert.deepEqual(JSON.parse(reply.text), { uid: NOBODY, euid: NOBODY, gid: NOGROUP, egid: NOGROUP, groups: [NOGROUP], secret: 'EACCES' });
    // A HUP's new workers read the key the same way, before their drop.
    const mark = raas.entries.length;
    raas.signal('SIGHUP');
    await raas.waitForEvent(LOG.RELOAD_DONE, { role: 'master' }, { after: mark, timeoutMs: 20_000 });
    assert.equal((await get(`${bound}/`)).status, 200);
    assert.deepEqual(raas.errorLines(), []);
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });

  it('--group alone: workers keep root\'s uid with nogroup as their only group', async () => {
    const raas = await startRaas({ args: ['-l', 'http://127.0.0.1:0', '-w', '1', '--group', 'nogroup', '--app', APP] });
    const [bound] = await raas.ready();
    const reply = JSON.parse((await get(`${bound}/`)).text) as Record<string, unknown>;
    assert.deepEqual([reply.uid, reply.gid, reply.egid, reply.groups], [0, NOGROUP, NOGROUP, [NOGROUP]]);
    const [pid] = [...raas.readyWorkers().values()];
    assert.deepEqual(idsOf(`/proc/${pid}/status`), { uid: [0, 0, 0, 0], gid: [NOGROUP, NOGROUP, NOGROUP, NOGROUP], groups: [NOGROUP] });
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });

  it('a drop that does not hold (setuid() made a no-op) fails the worker\'s boot: nothing is served as root', async () => {
    const raas = await startRaas({
      args: ['-l', 'http://127.0.0.1:0', '-w', '1', '--user', 'nobody', '--app', APP, `--worker-node-args=--import=${fixture('setuid-noop.mjs')}`],
      waitReady: false,
    });
    assert.equal((await raas.waitExit(30_000)).code, EXIT.WORKERS_CANNOT_BOOT);
    const failed = raas.events(LOG.WORKER_BOOT_FAILED, 'worker');
    assert.ok(failed.length > 0);
    for (const e of failed) assert.match(e.error ?? '', /the privilege drop did not hold: uid 0, euid 0 \(want 65534\); setuid\(0\) succeeded/);
    assert.deepEqual([raas.events(LOG.WORKER_LISTENING), raas.events(LOG.PRIVILEGES_DROPPED), raas.events(LOG.READY)], [[], [], []]);
  });

  for (const [what, args, setting] of [
    ['an unknown user', ['--user', 'raas-no-such-user'], 'user'],
    ['an unknown group', ['--user', 'nobody', '--group', 'raas-no-such-group'], 'group'],
    ['a numeric uid without an account', ['--user', '4000000000'], 'user'],
  ] as const) {
    it(`${what} is a config error at start (exit 2, naming the setting), before any worker`, async () => {
      const raas = await startRaas({ args: ['-l', '127.0.0.1:0', '-w', '1', ...args], waitReady: false });
      assert.equal((await raas.waitExit()).code, 2);
      assert.match(raas.lines.join('\n'), new RegExp(`setting "${setting}".*not a ${setting} of this system`));
      assert.deepEqual(raas.events(LOG.WORKER_SPAWN), []);
    });
  }

  for (const setting of ['user', 'group'] as const) {
    it(`--${setting} with a master that is not root is a config error at start (exit 2)`, async () => {
      const raas = await startRaas({
        args: ['-l', '127.0.0.1:0', '-w', '1', `--${setting}`, setting === 'user' ? 'nobody' : 'nogroup'],
        wrapper: ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups'],
        cwd: '/',
        waitReady: false,
      });
      assert.equal((await raas.waitExit()).code, 2);
      assert.match(raas.lines.join('\n'), new RegExp(`setting "${setting}" \\("no(body|group)"\\) needs a master started as root`));
      assert.deepEqual(raas.events(LOG.WORKER_SPAWN), []);
    });
  }
});
