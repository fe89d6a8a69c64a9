// Integration: `--env-file` sets variables for the workers on every Node line: read at start,
// read again on HUP (the next generation sees the edit), the master's own environment winning,
// and an unreadable file refused: exit 2 naming the setting at start, a refused reload on HUP
// with the old workers serving on.
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { EXIT } from '../../src/exit-codes.js';
import { LOG } from '../../src/log.js';
import { httpRequest, httpTarget } from '../helpers/http-load.js';
import { reapAll, startRaas, tmpDir } from '../helpers/raas.js';

after(reapAll);

/** An unchanged node:http app (zero-code) that shows the variables it was started with. */
function writeApp(dir: string): string {
  const app = path.join(dir, 'app.mjs');
  fs.writeFileSync(
    app,
    `import http from 'node:http';
http.createServer((req, res) => {
  const { GREETING, MULTI, FROM_SHELL } = process.env;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ GREETING, MULTI, FROM_SHELL, pid: process.pid }));
}).listen(process.env.PORT);
`,
  );
  return app;
}

describe('env-file: variables for the workers', () => {
  it('reaches the app, later files win, the master environment wins; an edit reaches the next generation on HUP; an unreadable file on HUP is refused', async () => {
    const dir = tmpDir();
    const first = path.join(dir, 'first.env');
    const second = path.join(dir, 'second.env');
    fs.writeFileSync(first, '# shared\nGREETING=from-first\nFROM_SHELL=from-file\nMULTI="two\\nlines"\n');
    fs.writeFileSync(second, 'export GREETING="from second" # the later file wins\n');
    const raas = await startRaas({
      args: ['--listen', 'http://127.0.0.1:0', '-w', '2', '--app', writeApp(dir), '--env-file', first, '--env-file', second],
      env: { FROM_SHELL: 'from-shell', RAAS_WORKERS: '', RAAS_LISTEN: '', RAAS_APP: '', RAAS_ENV_FILE: '' },
    });
    const [bound] = await raas.ready();
    const target = httpTarget(bound!);
    const read = async (): Promise<Record<string, string>> => JSON.parse((await httpRequest(target, { path: '/' })).text) as Record<string, string>;
    assert.deepEqual({ ...(await read()), pid: undefined }, { GREETING: 'from second', MULTI: 'two\nlines', FROM_SHELL: 'from-shell', pid: undefined });

    // An edit, then HUP: the new generation has the new value.
    fs.writeFileSync(second, 'GREETING=edited\n');
    let mark = raas.entries.length;
    raas.signal('SIGHUP');
    await raas.waitForEvent(LOG.RELOAD_DONE, {}, { after: mark, timeoutMs: 20_000 });
    const newPids = new Set(raas.entries.slice(mark).filter((e) => e.event === LOG.WORKER_SPAWN).map((e) => Number(e.worker_pid)));
    assert.equal(newPids.size, 2);
    const after = await read();
    assert.equal(after.GREETING, 'edited');
    assert.ok(newPids.has(Number(after.pid)), `answered by a new worker: ${after.pid} of ${[...newPids].join(',')}`);

    // A file that cannot be read any more: the reload is refused naming it, the workers serve on.
    fs.rmSync(second);
    mark = raas.entries.length;
    raas.signal('SIGHUP');
    const refused = await raas.waitForEvent(LOG.RELOAD_REFUSED, {}, { after: mark, timeoutMs: 20_000 });
    assert.match(refused.error!, /env-file/);
    assert.ok(refused.error!.includes(second), refused.error);
    assert.equal(raas.entries.slice(mark).filter((e) => e.event === LOG.WORKER_SPAWN).length, 0);
    const still = await read();
    assert.equal(still.GREETING, 'edited');
    assert.ok(newPids.has(Number(still.pid)));

    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });

  // Through RAAS_ENV_FILE: Node 20 itself scans the whole command line for `--env-file` and exits 9
  // ("node: FILE: not found") before RAAS runs when the flag names a missing file (docs/CONFIG.md).
  it('a missing file at start: exit 2 naming env-file and the path, before any worker is forked', async () => {
    const dir = tmpDir();
    const missing = path.join(dir, 'missing.env');
    const raas = await startRaas({
      args: ['--listen', 'http://127.0.0.1:0', '-w', '2', '--app', writeApp(dir)],
      env: { RAAS_WORKERS: '', RAAS_LISTEN: '', RAAS_APP: '', RAAS_ENV_FILE: missing },
      waitReady: false,
    });
    const { code } = await raas.waitExit();
    assert.equal(code, EXIT.CONFIG, raas.lines.join('\n'));
    const text = raas.lines.join('\n');
    assert.match(text, /env-file/);
    assert.ok(text.includes(missing), text);
    assert.equal(raas.entries.filter((e) => e.event === LOG.WORKER_SPAWN).length, 0);
  });
});
