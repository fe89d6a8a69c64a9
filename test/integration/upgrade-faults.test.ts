// Integration: upgrades under faults keep the pid file true. A new master that was ready and is
// then killed (OOM, SIGKILL): the old master names itself in the pid file again and `raas status`
// finds it. A second USR2 sent to the new master while the old one still runs is refused (it
// would overwrite the `.oldbin` naming the old master); once the old master is gone, it works.
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { LOG } from '../../src/log.js';
import { lineRequest, targetOf } from '../helpers/clients.js';
import { freePort, readPidFile, readyWorkersOf, upgrade, waitMasterStopped, workersOf } from '../helpers/masters.js';
import { CLI, isAlive, reapAll, startRaas, tmpDir, waitUntil } from '../helpers/raas.js';

after(reapAll);

function control(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

async function startMaster() {
  const dir = tmpDir('raas-upfault-');
  const pidFile = path.join(dir, 'raas.pid');
  const port = await freePort();
  const raas = await startRaas({ args: ['--listen', `127.0.0.1:${port}`, '-w', '1', '--pid', pidFile, '--upgrade-handover', 'manual'] });
  const [tcp] = await raas.ready();
  return { raas, pidFile, oldbin: `${pidFile}.oldbin`, target: targetOf(tcp!) };
}

describe('upgrade faults', () => {
  it('a ready new master killed with SIGKILL: the old master takes the pid file back and status finds it', async () => {
    const { raas, pidFile, oldbin, target } = await startMaster();
    const oldPid = raas.pid;
    const { newPid, mark } = await upgrade(raas, oldPid);
    await raas.waitForEvent(LOG.REEXEC_READY, { pid: String(oldPid), new_master_pid: String(newPid) }, { after: mark });
    assert.equal(readPidFile(pidFile), newPid);
    assert.equal(readPidFile(oldbin), oldPid);
    const orphans = workersOf(raas, newPid);

    process.kill(newPid, 'SIGKILL');
    const lost = await raas.waitForEvent(LOG.REEXEC_LOST, { pid: String(oldPid), new_master_pid: String(newPid) }, { after: mark });
    assert.equal(lost.signal, 'SIGKILL');
    assert.equal(readPidFile(pidFile), oldPid, 'the pid file names the master that serves');
    assert.equal(fs.existsSync(oldbin), false);
    const status = await control(['status', '--pid', pidFile]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`^master ${oldPid} running ready`, 'm'));
    // The dead master's workers leave on their own; ours serve on.
    for (const pid of orphans) await waitUntil(`orphan worker ${pid} gone`, () => !isAlive(pid));
    assert.equal(await lineRequest(target, 'still here\n'), 'ereh llits\n');

    // And a later upgrade goes through as usual.
    const again = await upgrade(raas, oldPid);
    await raas.waitForEvent(LOG.REEXEC_READY, { pid: String(oldPid), new_master_pid: String(again.newPid) }, { after: again.mark });
    assert.equal(readPidFile(pidFile), again.newPid);
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
    process.kill(again.newPid, 'SIGQUIT');
    assert.equal((await waitMasterStopped(raas, again.newPid)).exit_code, '0');
    assert.equal(fs.existsSync(pidFile), false);
  });

  it('refuses USR2 to a new master while the old one runs; accepts it once the old one is gone', async () => {
    const { raas, pidFile, oldbin, target } = await startMaster();
    const oldPid = raas.pid;
    const { newPid, mark } = await upgrade(raas, oldPid);
    await raas.waitForEvent(LOG.READY, { role: 'master', pid: String(newPid) }, { after: mark });
    await raas.waitForEvent(LOG.REEXEC_READY, { pid: String(oldPid) }, { after: mark });

    const second = raas.entries.length;
    process.kill(newPid, 'SIGUSR2');
    const refused = await raas.waitForEvent(LOG.REEXEC_REFUSED, { pid: String(newPid) }, { after: second });
    assert.equal(refused.old_master_pid, String(oldPid));
    assert.equal(raas.entries.slice(second).some((e) => e.event === LOG.REEXEC_START), false);
    assert.equal(readPidFile(pidFile), newPid);
    assert.equal(readPidFile(oldbin), oldPid, '.oldbin still names the old master');

    // The old master leaves: the new one forgets it, and may now be upgraded in turn.
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
    await raas.waitForEvent(LOG.OLD_MASTER_GONE, { pid: String(newPid), old_master_pid: String(oldPid) }, { after: second });
    assert.equal(fs.existsSync(oldbin), false);
    const third = await upgrade(raas, newPid);
    await raas.waitForEvent(LOG.REEXEC_READY, { pid: String(newPid), new_master_pid: String(third.newPid) }, { after: third.mark });
    assert.equal(readPidFile(pidFile), third.newPid);
    assert.equal(readPidFile(oldbin), newPid);
    assert.equal(readyWorkersOf(raas, third.newPid).length, 1);
    assert.equal(await lineRequest(target, 'third\n'), 'driht\n');
    process.kill(newPid, 'SIGQUIT');
    await waitMasterStopped(raas, newPid);
    process.kill(third.newPid, 'SIGQUIT');
    await waitMasterStopped(raas, third.newPid);
    assert.equal(fs.existsSync(pidFile), false);
    assert.deepEqual(raas.errorLines(), []);
  });
});
