// Integration: the master hooks of a JS config file run at spawn, readiness and exit, and a hook
// that throws is logged without harm; `import { run } from 'raas'` starts a master from a script.
// Runs in: the test runner process; drives real processes and signals.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { LOG } from '../../src/log.js';
import { lineRequest, targetOf } from '../helpers/clients.js';
import { REPO_ROOT, reapAll, RaasProcess, startRaas, tmpDir } from '../helpers/raas.js';

after(reapAll);

describe('master hooks and run()', () => {
  it('calls beforeSpawn, afterWorkerReady and afterWorkerExit; a throwing hook only logs', async () => {
    const dir = tmpDir();
    const trace = path.join(dir, 'hooks.log');
    const config = path.join(dir, 'raas.config.mjs');
    fs.writeFileSync(
      config,
      `import * as fs from 'node:fs';
const note = (line) => fs.appendFileSync(${JSON.stringify(trace)}, line + '\\n');
export default {
  listen: ['127.0.0.1:0'],
  workers: 2,
  beforeSpawn(w) { note('spawn ' + w.slot); },
  afterWorkerReady(w) { note('ready ' + w.slot + ' ' + w.pid); throw new Error('hook trouble'); },
  afterWorkerExit(w, exit) { note('exit ' + w.slot + ' ' + exit.signal); },
};
`,
    );
    const raas = await startRaas({ args: ['-c', config] });
    const [tcp] = await raas.ready();
    assert.equal(await lineRequest(targetOf(tcp!), 'hooks\n'), 'skooh\n');
    const victim = raas.readyWorkers().get(1)!;
    process.kill(victim, 'SIGKILL');
    await raas.waitFor('the replacement ready', () => raas.events(LOG.WORKER_READY).length === 3);
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
    const lines = fs.readFileSync(trace, 'utf8').trim().split('\n');
    assert.deepEqual(lines.filter((l) => l.startsWith('spawn')).sort(), ['spawn 0', 'spawn 1', 'spawn 1']);
    assert.ok(lines.includes(`ready 1 ${victim}`), lines.join('\n'));
    assert.ok(lines.includes('exit 1 SIGKILL'), lines.join('\n'));
    assert.equal(lines.filter((l) => l.startsWith('exit')).length, 3);
    assert.equal(raas.events(LOG.HANDLER_ERROR).filter((e) => e.hook === 'afterWorkerReady').length, 3);
  });

  it('run() starts a master from a script', async () => {
    const dir = tmpDir();
    const script = path.join(dir, 'start.mjs');
    const entry = pathToFileURL(path.join(REPO_ROOT, 'dist', 'src', 'index.js')).href;
    fs.writeFileSync(script, `import { run } from ${JSON.stringify(entry)};\nawait run({ listen: ['127.0.0.1:0'], workers: 1 });\n`);
    const raas = new RaasProcess([], {}, REPO_ROOT, [process.execPath, script, '--']);
    // The wrapper form runs `node start.mjs -- node cli.js`: the script ignores its arguments.
    const [tcp] = await raas.ready();
    assert.equal(await lineRequest(targetOf(tcp!), 'run\n'), 'nur\n');
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });
});
