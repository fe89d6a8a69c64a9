// Integration: `raas reload` tells the truth. A HUP that arrives while a reload runs is queued
// and run after it (the second config edit is never lost), and each control command reports the
// outcome of the reload that covers its own HUP. A config that never finishes loading is refused
// at its deadline, and the next reload works.
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { EXIT } from '../../src/exit-codes.js';
import { LOG } from '../../src/log.js';
import { CLI, reapAll, startRaas, tmpDir } from '../helpers/raas.js';
import { gateSource } from '../helpers/gate.js';

after(reapAll);

const CLEAN_ENV = { RAAS_WORKERS: '', WEB_CONCURRENCY: '', RAAS_LISTEN: '', RAAS_LOG_FILE: '', RAAS_APP: '', RAAS_PID: '' };

function control(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 90_000, env: { ...process.env, ...CLEAN_ENV } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/**
 * A config module that, in a running master only, loads once the file `gate` exists (or never):
 * the control command and the master's first load read it at once. The module watches for the
 * gate file: the test creates it once it saw what it awaits.
 */
function writeConfig(file: string, values: Record<string, unknown>, inMaster: { gate: string } | 'never' | 'fast'): void {
  const wait =
    typeof inMaster === 'object'
      ? gateSource(inMaster.gate)
      : 'new Promise(() => {})';
  const guard = inMaster === 'fast' ? '' : `import * as fs from 'node:fs';\nif (/\\] master/.test(process.title)) await ${wait};\n`;
  // Atomically: the master may be reading the file at this very moment.
  fs.writeFileSync(`${file}.tmp`, `${guard}export default ${JSON.stringify(values)};\n`);
  fs.renameSync(`${file}.tmp`, file);
}

describe('reload queue and deadlines', () => {
  it('a second reload during the first is queued and applied; each command reports its own reload', async () => {
    const dir = tmpDir('raas-rq-');
    const config = path.join(dir, 'raas.mjs');
    const pid = path.join(dir, 'raas.pid');
    const gated = { gate: path.join(dir, 'gate') };
    writeConfig(config, { listen: ['127.0.0.1:0'], workers: 1, pid }, gated);
    const raas = await startRaas({ args: ['-c', config], env: CLEAN_ENV });
    await raas.ready();

    writeConfig(config, { listen: ['127.0.0.1:0'], workers: 2, pid }, gated);
    const mark = raas.entries.length;
    const first = control(['reload', '-c', config]);
    await raas.waitForEvent(LOG.SIGNAL, { role: 'master', signal: 'SIGHUP' }, { after: mark, timeoutMs: 30_000 });
    // The master is loading the config (held at the gate): edit it again and reload again.
    writeConfig(config, { listen: ['127.0.0.1:0'], workers: 3, pid }, gated);
    const second = control(['reload', '-c', config]);
    const queued = await raas.waitForEvent(LOG.RELOAD_QUEUED, { role: 'master' }, { after: mark, timeoutMs: 30_000 });
    // Behind the first reload, which cannot leave its loading until the gate opens.
    assert.equal(queued.behind, 'loading');
    fs.writeFileSync(gated.gate, '');

    const [one, two] = await Promise.all([first, second]);
    assert.equal(one.code, 0, one.stderr);
    assert.equal(two.code, 0, two.stderr);
    assert.match(one.stdout, /reloaded: master \d+ serves generation 2/);
    assert.match(two.stdout, /reloaded: master \d+ serves generation 3/);
    const done = raas.events(LOG.RELOAD_DONE, 'master');
    // The first reload may already have read the second edit (it was written as it began to load).
    assert.deepEqual(done.map((e) => e.gen), ['2', '3']);
    assert.equal(done[1]!.workers, '3');
    assert.equal(raas.readyWorkers().size, 3, 'the second edit is what runs');
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });

  it('a config that never finishes loading is refused at boot-timeout; the next reload works', async () => {
    const dir = tmpDir('raas-rq-');
    const config = path.join(dir, 'raas.mjs');
    const pid = path.join(dir, 'raas.pid');
    const values = { listen: ['127.0.0.1:0'], workers: 1, pid, 'boot-timeout': 2 };
    writeConfig(config, values, 'fast');
    const raas = await startRaas({ args: ['-c', config], env: CLEAN_ENV });
    await raas.ready();
    const workers = [...raas.readyWorkers().values()];

    writeConfig(config, values, 'never');
    const hung = await control(['reload', '-c', config]);
    assert.equal(hung.code, EXIT.CONTROL_FAILED, hung.stdout);
    assert.match(hung.stderr, /reload refused: the config did not finish loading within 2 s/);
    const refused = raas.events(LOG.RELOAD_REFUSED, 'master');
    assert.equal(refused.length, 1);
    assert.deepEqual([...raas.readyWorkers().values()], workers, 'the workers never moved');

    // boot-timeout 2 s is the load deadline tested above; the next generation's workers get room to
    // boot on a loaded CI machine (a worker took longer than 2 s there, and the reload was aborted).
    writeConfig(config, { ...values, workers: 2, 'boot-timeout': 30 }, 'fast');
    const fixed = await control(['reload', '-c', config]);
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.match(fixed.stdout, /serves generation 2/);
    assert.equal(raas.readyWorkers().size, 2);
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });
});
