// Integration: RAAS as PID 1 of its own PID namespace (what a container gives it): it serves,
// and TERM (what `docker stop` sends) stops it gracefully with exit 0.
// Runs in: the test runner process; drives real processes, namespaces, sockets and signals.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { LOG } from '../../src/log.js';
import { lineRequest, targetOf } from '../helpers/clients.js';
import { reapAll, startRaas, tmpDir } from '../helpers/raas.js';

after(reapAll);

const canUnshare = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']).status === 0;

describe('PID 1 in a container', { skip: canUnshare ? false : 'unshare --pid is not permitted here' }, () => {
  it('serves as PID 1, reaps the orphans an app leaves behind, and stops gracefully on TERM', async () => {
    const dir = tmpDir();
    const app = path.join(dir, 'orphans.mjs');
    // `sh` starts a background sleep and exits: the sleep is orphaned, re-parented to PID 1.
    fs.writeFileSync(
      app,
      `import { execFileSync } from 'node:child_process';
export default (req, res) => res.end(execFileSync('sh', ['-c', 'sleep 0.2 >/dev/null 2>&1 & echo $!']).toString().trim());
`,
    );
    const raas = await startRaas({
      args: ['--listen', '127.0.0.1:0', '--listen', 'http://127.0.0.1:0', '-w', '2', '--app', app],
      wrapper: ['unshare', '--pid', '--kill-child', '--mount-proc'],
      ownPidNamespace: true,
    });
    const [tcp, web] = await raas.ready();
    const ready = raas.events(LOG.READY, 'master')[0]!;
    assert.equal(ready.pid, '1', 'the master is PID 1 of its namespace');
    assert.equal(await lineRequest(targetOf(tcp!), 'container\n'), 'reniatnoc\n');
    const orphan = await (await fetch(`${web!}/`)).text();
    assert.match(orphan, /^\d+$/);
    await raas.waitForEvent(LOG.REAPED_UNKNOWN, { orphan_pid: orphan, code: '0' });
    // unshare (raas.pid) forked the master: it is unshare's only child, seen from our namespace.
    const children = fs.readFileSync(`/proc/${raas.pid}/task/${raas.pid}/children`, 'utf8').trim().split(/\s+/);
    assert.equal(children.length, 1);
    process.kill(Number(children[0]), 'SIGTERM');
    await raas.waitForEvent(LOG.STOPPED, { role: 'master' });
    assert.equal((await raas.waitExit()).code, 0);
    assert.equal(raas.events(LOG.WORKER_EXIT).filter((e) => e.reason !== 'shutdown').length, 0);
  });
});
