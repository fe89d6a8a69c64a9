// Integration: quick, clear failures of an app under a real master. A missing `--app` is exit 2
// naming the path before any worker exists; an Express app that throws while loading has its error
// and stack logged once per attempt and the master's last line repeats it (exit 4); a Fastify app
// that never listens stops the master after one boot-timeout at the first start; a TypeScript app
// runs where Node strips types (22.18+, 24+) and is refused with what to do where it does not.
// Runs in: the test runner process; drives real processes.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { stripsTypesByDefault } from '../../src/config/app-file.js';
import { EXIT } from '../../src/exit-codes.js';
import { LOG } from '../../src/log.js';
import { httpRequest, httpTarget } from '../helpers/http-load.js';
import { REPO_ROOT, reapAll, startRaas, tmpDir, type RaasProcess } from '../helpers/raas.js';

after(reapAll);

/** A directory holding the given files, with the repo's node_modules (express, fastify) beside them. */
function appDir(files: Record<string, string>): string {
  const dir = tmpDir('raas-failfast-');
  fs.symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

/** Starts a master that is expected to fail; resolves with its exit and how long it lived. */
async function failing(args: string[], timeoutMs: number): Promise<{ raas: RaasProcess; code: number | null; ms: number }> {
  const started = Date.now();
  const raas = await startRaas({ args, waitReady: false });
  const { code } = await raas.waitExit(timeoutMs);
  return { raas, code, ms: Date.now() - started };
}

const TS_BY_DEFAULT = stripsTypesByDefault(process.versions.node);

describe('quick, clear failures', () => {
  it('a missing or non-file --app is exit 2 naming the path, before any worker is forked', async () => {
    const dir = appDir({});
    for (const [app, why] of [
      [path.join(dir, 'missing.mjs'), /no such file/],
      [dir, /is a directory/],
    ] as const) {
      const { raas, code, ms } = await failing(['--listen', 'http://127.0.0.1:0', '--app', app], 10_000);
      assert.equal(code, EXIT.CONFIG, raas.lines.join('\n'));
      const said = raas.lines.join('\n');
      assert.ok(said.includes(`setting "app": ${app}:`), said);
      assert.match(said, why);
      assert.equal(raas.events(LOG.WORKER_SPAWN).length, 0, 'no worker was forked');
      // What tells the old way (5 boots and their back-offs, 2-7 s) apart is that no worker was
      // forked, above; the clock only bounds it, loosely: a loaded 2-core CI machine takes seconds
      // to start Node at times, and a speed is the benchmark's to measure, never a test's.
      assert.ok(ms < 15_000, `exited after ${ms} ms`);
    }
  });

  it('an Express app that throws while loading: its error and stack once per attempt, the halt repeats it last (exit 4)', async () => {
    const dir = appDir({
      'server.mjs': [
        "import express from 'express';",
        'const app = express();',
        "if (!process.env.NO_SUCH_DATABASE_URL) throw new Error('DATABASE_URL is not set');",
        'app.listen(process.env.PORT);',
        '',
      ].join('\n'),
    });
    const { raas, code } = await failing(['--listen', 'http://127.0.0.1:0', '-w', '2', '--app', path.join(dir, 'server.mjs')], 60_000);
    assert.equal(code, EXIT.WORKERS_CANNOT_BOOT, raas.lines.slice(-20).join('\n'));
    // Every attempt: its worker logged the error with its stack exactly once, and exited 10.
    const failedPids = raas.events(LOG.WORKER_EXIT, 'master').filter((e) => e.code === String(EXIT.WORKER_BOOT_ERROR)).map((e) => e.worker_pid);
    assert.ok(failedPids.length >= 2, raas.lines.join('\n'));
    for (const pid of failedPids) {
      const told = raas.lines.filter((l) => l.includes(`pid=${pid} `) && l.includes('DATABASE_URL is not set'));
      assert.equal(told.length, 1, `worker ${pid}: ${told.join('\n')}`);
      assert.match(told[0]!, /event=worker-boot-failed/);
      assert.match(told[0]!, /server\.mjs:3:\d+/, 'with its stack');
    }
    const halt = raas.events(LOG.WORKERS_CANNOT_BOOT)[0];
    assert.match(halt?.first_error ?? '', /DATABASE_URL is not set \(at file:\/\/.*server\.mjs:3:\d+\)/);
    const last = raas.entries.at(-1)!;
    assert.equal(last.event, LOG.STOPPED);
    assert.equal(last.why, 'workers-cannot-boot');
    assert.equal(last.first_error, halt?.first_error);
  });

  it('a Fastify app that never listens: at the first start the master exits 4 after one boot-timeout, not five', async () => {
    const dir = appDir({
      'server.mjs': [
        "import Fastify from 'fastify';",
        'const app = Fastify();',
        "app.get('/', async () => 'hi');",
        '// Waits for a dependency that never comes, so it never listens.',
        'setTimeout(() => app.listen({ port: Number(process.env.PORT) }), 3_600_000);',
        '',
      ].join('\n'),
    });
    const bootTimeout = 3;
    const { raas, code, ms } = await failing(
      ['--listen', 'http://127.0.0.1:0', '-w', '1', '--boot-timeout', String(bootTimeout), '--app', path.join(dir, 'server.mjs')],
      60_000,
    );
    assert.equal(code, EXIT.WORKERS_CANNOT_BOOT, raas.lines.slice(-20).join('\n'));
    assert.equal(raas.events(LOG.WORKER_BOOT_TIMEOUT).length, 1, 'one boot-timeout, not five');
    const halt = raas.events(LOG.WORKERS_CANNOT_BOOT)[0];
    assert.equal(halt?.rule, 'first-start');
    assert.match(halt?.first_error ?? '', /not ready within boot-timeout \(3 s\)/);
    assert.equal(raas.entries.at(-1)?.first_error, halt?.first_error);
    // One boot-timeout, not five (counted above), is what tells it from the old way; the clock
    // only bounds it, loosely, for a loaded CI machine.
    assert.ok(ms < (bootTimeout + 25) * 1000, `exited after ${ms} ms`);
  });

  it('a TypeScript Express app (server.ts importing a .ts module) runs where Node strips types', { skip: !TS_BY_DEFAULT && `Node ${process.version} does not strip types` }, async () => {
    const dir = appDir({
      'greeting.ts': [
        'export interface Greeting { text: string; from: string }',
        "export const greeting: Greeting = { text: 'typed hello', from: 'server.ts' };",
        '',
      ].join('\n'),
      'server.ts': [
        "import express, { type Request, type Response } from 'express';",
        "import { greeting, type Greeting } from './greeting.ts';",
        'const app = express();',
        "app.get('/', (_req: Request, res: Response) => { const g: Greeting = greeting; res.send(`${g.text} from ${g.from}`); });",
        'const port: number = Number(process.env.PORT);',
        'app.listen(port);',
        '',
      ].join('\n'),
    });
    const raas = await startRaas({ args: ['--listen', 'http://127.0.0.1:0', '-w', '2', '--app', path.join(dir, 'server.ts')] });
    const [bound] = await raas.ready();
    const reply = await httpRequest(httpTarget(bound!), { path: '/' });
    assert.equal(reply.status, 200);
    assert.equal(reply.text, 'typed hello from server.ts');
    raas.signal('SIGTERM');
    assert.equal((await raas.waitExit()).code, EXIT.OK);
    assert.deepEqual(raas.errorLines(), []);
  });

  it('a TypeScript app where Node cannot strip types: exit 2 saying what to do, before any worker', { skip: TS_BY_DEFAULT && `Node ${process.version} strips types` }, async () => {
    const dir = appDir({ 'server.ts': "const port: number = Number(process.env.PORT);\nconsole.log(port);\n" });
    const { raas, code } = await failing(['--listen', 'http://127.0.0.1:0', '--app', path.join(dir, 'server.ts')], 10_000);
    assert.equal(code, EXIT.CONFIG);
    const said = raas.lines.join('\n');
    assert.match(said, /setting "app": .*server\.ts: a TypeScript app/);
    assert.match(said, /Node 22\.18\+ or 24\+/);
    assert.match(said, /--worker-node-args=--import=tsx/);
    assert.equal(raas.events(LOG.WORKER_SPAWN).length, 0);
    // A loader named in worker-node-args is trusted: the start goes on (and a worker is forked).
    const loader = await failing(
      ['--listen', 'http://127.0.0.1:0', '-w', '1', '--boot-timeout', '2', '--worker-node-args', '--import=no-such-ts-loader', '--app', path.join(dir, 'server.ts')],
      30_000,
    );
    assert.equal(loader.code, EXIT.WORKERS_CANNOT_BOOT);
    assert.ok(loader.raas.events(LOG.WORKER_SPAWN).length >= 1);
    assert.ok(loader.raas.lines.some((l) => l.includes('no-such-ts-loader')), 'Node said which loader it could not find');
  });
});
