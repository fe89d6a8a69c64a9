// Integration: `--watch`, the dev loop. An edit under the app's directory rolls the workers as a
// HUP does, with no failed request; edits in node_modules and dot-files are ignored; an edit that
// breaks the app is logged and the old workers serve on; the fix rolls again.
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { LOG } from '../../src/log.js';
import { HttpLoad, httpRequest, httpTarget } from '../helpers/http-load.js';
import { reapAll, startRaas, tmpDir, waitUntil, type RaasProcess } from '../helpers/raas.js';

after(reapAll);

/** An unchanged node:http app (zero-code) that echoes `s` and says which version of it serves. */
const appSource = (version: string): string => `import http from 'node:http';
const VERSION = ${JSON.stringify(version)};
http.createServer((req, res) => {
  res.setHeader('x-version', VERSION);
  res.setHeader('x-pid', String(process.pid));
  res.end(new URL(req.url, 'http://x').searchParams.get('s') ?? '');
}).listen(process.env.PORT);
`;

/** After a reload: only the workers spawned since `mark` are left (a request can't land on an old one). */
async function onlyNewWorkers(raas: RaasProcess, mark: number): Promise<void> {
  const fresh = new Set(raas.entries.slice(mark).filter((e) => e.event === LOG.WORKER_SPAWN).map((e) => Number(e.worker_pid)));
  await waitUntil('the old workers to be gone', () => raas.liveWorkerPids().every((pid) => fresh.has(pid)), 15_000);
}

describe('--watch: the dev loop', () => {
  it('an edit rolls the workers with no failed request; node_modules and dot-files are ignored; a broken edit keeps the old workers', async () => {
    const dir = tmpDir();
    const app = path.join(dir, 'app.mjs');
    fs.writeFileSync(app, appSource('v1'));
    fs.mkdirSync(path.join(dir, 'node_modules', 'dep'), { recursive: true });
    const raas = await startRaas({
      // `--watch` alone: the app's directory.
      args: ['--listen', 'http://127.0.0.1:0', '-w', '2', '--app', app, '--watch'],
      env: { RAAS_WORKERS: '', RAAS_LISTEN: '', RAAS_APP: '', RAAS_WATCH: '' },
    });
    const [bound] = await raas.ready();
    const target = httpTarget(bound!);
    const version = async (): Promise<string> => String((await httpRequest(target, { path: '/?s=x' })).headers['x-version']);
    assert.equal((await raas.waitForEvent(LOG.WATCHING)).paths, dir);
    assert.equal(await version(), 'v1');
    const load = new HttpLoad(target, { concurrency: 4, request: (c, n) => ({ path: `/?s=c${c}n${n}`, expected: `c${c}n${n}` }) });
    try {
      // Ignored writes first, then the app: the change reported is the spell's first path that
      // counts, so a reported node_modules or dot-file path would show here.
      let mark = raas.entries.length;
      fs.writeFileSync(path.join(dir, 'node_modules', 'dep', 'index.js'), 'module.exports = 1;\n');
      fs.writeFileSync(path.join(dir, '.env.swp'), 'x');
      fs.writeFileSync(app, appSource('v2'));
      const changed = await raas.waitForEvent(LOG.WATCH_CHANGED, {}, { after: mark, timeoutMs: 10_000 });
      assert.equal(changed.path, app);
      await raas.waitForEvent(LOG.RELOAD_DONE, {}, { after: mark, timeoutMs: 30_000 });
      await onlyNewWorkers(raas, mark);
      assert.equal(await version(), 'v2');

      // A broken edit: the new workers fail at boot, the reload aborts, v2 serves on.
      mark = raas.entries.length;
      fs.writeFileSync(app, 'throw new Error("broken by an edit");\n');
      await raas.waitForEvent(LOG.RELOAD_ABORTED, {}, { after: mark, timeoutMs: 30_000 });
      const failed = raas.entries.slice(mark).find((e) => e.event === LOG.WORKER_BOOT_FAILED && e.role === 'worker');
      assert.match(failed?.error ?? '', /broken by an edit/);
      assert.equal(await version(), 'v2');

      // The fix rolls again.
      mark = raas.entries.length;
      fs.writeFileSync(app, appSource('v3'));
      await raas.waitForEvent(LOG.RELOAD_DONE, {}, { after: mark, timeoutMs: 30_000 });
      await onlyNewWorkers(raas, mark);
      assert.equal(await version(), 'v3');
    } finally {
      const report = await load.stop();
      assert.equal(report.failed, 0, JSON.stringify(report.failures));
      assert.ok(report.ok > 0);
    }
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });
});
