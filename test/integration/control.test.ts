// Integration: the control command finds the master through the pid file, signals it and
// reports the outcome, failing when a reload is aborted.
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { EXIT } from '../../src/exit-codes.js';
import { LOG } from '../../src/log.js';
import { LineLoad, targetOf } from '../helpers/clients.js';
import { control } from '../helpers/control.js';
import { isAlive, reapAll, startRaas, tmpDir } from '../helpers/raas.js';

after(reapAll);

describe('control command', () => {
  it('status, scale, reload (done and aborted), quit', async () => {
    const dir = tmpDir();
    const config = path.join(dir, 'raas.json');
    const pid = path.join(dir, 'raas.pid');
    fs.writeFileSync(config, JSON.stringify({ listen: ['127.0.0.1:0'], workers: 2, pid }));
    const raas = await startRaas({ args: ['-c', config] });
    const [tcp] = await raas.ready();
    const load = new LineLoad(targetOf(tcp!), 50);
    const ctl = ['-c', config];

    const status = await control(['status', ...ctl]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`^master ${raas.pid} running ready generation=1 workers=2$`, 'm'));
    // The worker table: SLOT STATE PID GEN ... (see src/control/status-view.ts).
    assert.equal(status.stdout.match(/^\d +ready +\d+ +1 /gm)?.length, 2, status.stdout);

    const scaled = await control(['scale', '3', ...ctl]);
    assert.equal(scaled.code, 0, scaled.stderr);
    assert.equal(raas.readyWorkers().size, 3);

    // The config keeps the listener (port 0 is matched to the socket it bound) and asks for 2 workers.
    fs.writeFileSync(config, JSON.stringify({ listen: [tcp], workers: 2, pid }));
    const reloaded = await control(['reload', ...ctl]);
    assert.equal(reloaded.code, 0, reloaded.stderr);
    assert.match(reloaded.stdout, /reloaded: master \d+ serves generation 2/);

    // New workers that cannot boot: the reload is aborted, reported as a failure, old workers serve on.
    const crash = path.join(dir, 'crash.mjs');
    fs.writeFileSync(crash, 'throw new Error("this app cannot start");\n');
    // The reload above retired three workers; wait until they have drained and exited.
    await raas.waitFor('the old generation to exit', () => raas.liveWorkerPids().length === 2);
    const before = raas.liveWorkerPids();
    fs.writeFileSync(config, JSON.stringify({ listen: [tcp, 'http://127.0.0.1:0'], workers: 2, pid, app: crash }));
    const aborted = await control(['reload', ...ctl]);
    assert.equal(aborted.code, EXIT.CONTROL_FAILED, aborted.stdout);
    assert.match(aborted.stderr, /reload aborted/);
    await raas.waitForEvent(LOG.RELOAD_ABORTED);
    for (const p of before) assert.equal(isAlive(p), true);

    const report = await load.stop();
    assert.equal(report.failed, 0, JSON.stringify(report.failures));
    assert.ok(report.ok > 0);

    const quit = await control(['quit', ...ctl]);
    assert.equal(quit.code, 0, quit.stderr);
    assert.equal((await raas.waitExit()).code, 0);
    assert.equal(fs.existsSync(pid), false);
  });

  it('status and stop still find the master when its config file no longer parses', async () => {
    const dir = tmpDir();
    const config = path.join(dir, 'raas.json');
    const pid = path.join(dir, 'raas.pid');
    fs.writeFileSync(config, JSON.stringify({ listen: ['127.0.0.1:0'], workers: 1, pid, name: 'edited' }));
    const raas = await startRaas({ args: ['-c', config] });
    // An edit in progress: not JSON any more, but the pid key is still there to be read.
    fs.writeFileSync(config, `{ "pid": ${JSON.stringify(pid)}, "name": "edited", "workers": 2,, }`);
    const ctl = ['-c', config];

    const status = await control(['status', ...ctl]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`^master ${raas.pid} running ready`, 'm'));
    assert.match(status.stderr, /warning: .*not valid JSON.*finding the master through pid file .*raas\.pid \(read from the broken config file\)/);

    // The pid file named by a flag wins over the broken file, and the file need not even exist.
    fs.rmSync(config);
    const byFlag = await control(['status', ...ctl, '--pid', pid, '--name', 'edited']);
    assert.equal(byFlag.code, 0, byFlag.stderr);
    assert.match(byFlag.stderr, /warning: .*cannot read it.*\(from the flags\)/);

    fs.writeFileSync(config, '{ "pid": ');
    const noPid = await control(['stop', ...ctl]);
    assert.equal(noPid.code, EXIT.CONFIG, 'with no pid to be found, the config error is the answer');
    assert.match(noPid.stderr, /not valid JSON/);
    assert.ok(raas.alive);

    fs.writeFileSync(config, `{"pid": ${JSON.stringify(pid)}, "name": "edited", "workers": "many"}`);
    const stop = await control(['stop', ...ctl]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.match(stop.stdout, new RegExp(`stopped: master ${raas.pid}`));
    assert.equal((await raas.waitExit()).code, 0);
  });

  it('says so when no master runs', async () => {
    const dir = tmpDir();
    const result = await control(['reload', '--pid', path.join(dir, 'none.pid')]);
    assert.equal(result.code, EXIT.CONTROL_FAILED);
    assert.match(result.stderr, /no master is running/);
  });
});
