// Integration: a process is taken for our master only if its title is exactly "[NAME] master"
// (or "... (old)") for our name and it runs as our user. Look-alikes whose pid is in the pid file
// are neither signalled by the control command nor keep a real master from claiming the file.
// Runs in: the test runner process; starts impostor processes (node scripts that set their title)
// and real masters.

import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { EXIT } from '../../src/exit-codes.js';
import { LOG } from '../../src/log.js';
import { isMasterTitle, processIdentity, psIdentity } from '../../src/master/files/identity.js';
import { isLiveMaster } from '../../src/master/files/pidfile.js';
import { CLI, isAlive, processArgs, reapAll, startRaas, tmpDir, waitUntil } from '../helpers/raas.js';

const impostors: ChildProcess[] = [];
after(async () => {
  for (const child of impostors) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await reapAll();
});

const asRoot = process.getuid?.() === 0;

function control(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** A node process titled `title` that records any TERM/QUIT it gets, optionally as another user. */
async function impostor(dir: string, title: string, uid?: number): Promise<{ pid: number; signalled: () => string }> {
  const script = path.join(dir, 'impostor.cjs');
  const marks = path.join(dir, `signals-${impostors.length}`);
  fs.writeFileSync(marks, '');
  fs.chmodSync(marks, 0o666);
  fs.writeFileSync(
    script,
    `process.title = ${JSON.stringify(title)};
for (const s of ['SIGTERM', 'SIGQUIT', 'SIGHUP']) process.on(s, () => require('fs').appendFileSync(${JSON.stringify(marks)}, s + '\\n'));
setInterval(() => {}, 1 << 30);
`,
  );
  fs.chmodSync(dir, 0o755);
  fs.chmodSync(script, 0o644);
  const child = spawn(process.execPath, [script], { stdio: 'ignore', ...(uid === undefined ? {} : { uid, gid: uid }) });
  impostors.push(child);
  if (child.pid === undefined) throw await new Promise<Error>((resolve) => child.once('error', resolve));
  const pid = child.pid;
  await waitUntil(`impostor titled ${title}`, () => processArgs(pid).startsWith(title));
  return { pid, signalled: () => fs.readFileSync(marks, 'utf8') };
}

describe('knowing a live master', () => {
  it('titles: exactly ours, or cut at the end of the argv area but keeping "[NAME]"', () => {
    assert.ok(isMasterTitle('[RAAS] master', false, 'RAAS'));
    assert.ok(isMasterTitle('[RAAS] master (old)', false, 'RAAS'));
    assert.ok(isMasterTitle('[shop] master', false));
    assert.ok(!isMasterTitle('[evil] master', false, 'RAAS'));
    assert.ok(!isMasterTitle('[RAAS] master --and-more', false, 'RAAS'));
    assert.ok(!isMasterTitle('[RAAS] mas', false, 'RAAS'), 'a short title that did not fill its room was not cut');
    assert.ok(isMasterTitle('[RAAS] mas', true, 'RAAS'));
    assert.ok(!isMasterTitle('[RAA', true, 'RAAS'));
    assert.ok(!isMasterTitle('[a]b] master', false));
  });

  it('the ps fallback (other platforms) reads the same uid and title as /proc', async () => {
    const dir = tmpDir('raas-identity-');
    const evil = await impostor(dir, '[RAAS] master');
    assert.deepEqual(psIdentity(evil.pid), { uid: process.getuid!(), title: '[RAAS] master', full: false });
    assert.equal(processIdentity(evil.pid)?.title, '[RAAS] master');
    process.kill(evil.pid, 'SIGKILL');
    await waitUntil('impostor gone', () => !isAlive(evil.pid));
    assert.equal(psIdentity(evil.pid), null);
    assert.equal(processIdentity(evil.pid), null);
  });

  it('a look-alike titled "[evil] master" is not signalled by stop, and a master claims the pid file over it', async () => {
    const dir = tmpDir('raas-identity-');
    const pidFile = path.join(dir, 'raas.pid');
    const evil = await impostor(dir, '[evil] master');
    fs.writeFileSync(pidFile, `${evil.pid}\n`);
    assert.equal(isLiveMaster(evil.pid, 'RAAS'), false);

    const stop = await control(['stop', '--pid', pidFile]);
    assert.equal(stop.code, EXIT.CONTROL_FAILED, stop.stdout);
    assert.match(stop.stderr, /titled "\[evil\] master", not "\[RAAS\] master": pass --name evil/);
    assert.equal(evil.signalled(), '');
    assert.ok(isAlive(evil.pid));

    const raas = await startRaas({ args: ['--listen', '127.0.0.1:0', '-w', '1', '--pid', pidFile] });
    assert.equal(fs.readFileSync(pidFile, 'utf8'), `${raas.pid}\n`);
    assert.deepEqual(raas.events(LOG.PIDFILE_ERROR), []);
    const stopped = await control(['stop', '--pid', pidFile]);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.equal((await raas.waitExit()).code, 0);
    assert.equal(evil.signalled(), '');
    assert.ok(isAlive(evil.pid));
  });

  it('a "[RAAS] master" of another user is not signalled by stop, and a master claims the pid file over it', { skip: !asRoot && 'needs root to start a process as another user' }, async (t) => {
    const dir = tmpDir('raas-identity-');
    const pidFile = path.join(dir, 'raas.pid');
    let other: Awaited<ReturnType<typeof impostor>>;
    try {
      other = await impostor(dir, '[RAAS] master', 65534);
    } catch (err) {
      // e.g. a node binary under /root (npm exec's cache): the other user cannot run it.
      if ((err as NodeJS.ErrnoException).code !== 'EACCES') throw err;
      return t.skip(`uid 65534 cannot run ${process.execPath}`);
    }
    assert.equal(processIdentity(other.pid)?.uid, 65534);
    assert.equal(processIdentity(other.pid)?.title, '[RAAS] master');
    fs.writeFileSync(pidFile, `${other.pid}\n`);

    for (const command of ['stop', 'quit', 'reload', 'status']) {
      const res = await control([command, '--pid', pidFile]);
      assert.equal(res.code, EXIT.CONTROL_FAILED, `${command}: ${res.stdout}`);
      assert.match(res.stderr, /no master is running/);
    }
    assert.equal(other.signalled(), '');

    const raas = await startRaas({ args: ['--listen', '127.0.0.1:0', '-w', '1', '--pid', pidFile] });
    assert.equal(fs.readFileSync(pidFile, 'utf8'), `${raas.pid}\n`);
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
    assert.equal(other.signalled(), '');
    assert.ok(isAlive(other.pid));
  });

  it('a master with its own name is known by that name: control commands and a second master', async () => {
    const dir = tmpDir('raas-identity-');
    const pidFile = path.join(dir, 'raas.pid');
    const name = 'shop.eu-1';
    const raas = await startRaas({ args: ['--listen', '127.0.0.1:0', '-w', '1', '--pid', pidFile, '--name', name] });
    assert.equal(processArgs(raas.pid), `[${name}] master`);
    const status = await control(['status', '--pid', pidFile, '--name', name]);
    assert.equal(status.code, 0, status.stderr);
    const second = await startRaas({ args: ['--listen', '127.0.0.1:0', '-w', '1', '--pid', pidFile, '--name', name], waitReady: false });
    assert.equal((await second.waitExit()).code, EXIT.ALREADY_RUNNING);
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });

  it('a name with "]" is refused at start, naming the setting', async () => {
    const raas = await startRaas({ args: ['--listen', '127.0.0.1:0', '--name', 'a]b'], waitReady: false });
    assert.equal((await raas.waitExit()).code, EXIT.CONFIG);
    assert.match(raas.lines.join('\n'), /invalid value for setting "name" from flag --name: "a\]b" \(expected 1 to 16 printable ASCII/);
  });
});
