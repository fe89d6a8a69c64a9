// Integration: the app's stdout and stderr are RAAS log lines (`app-output log`, the default):
// console.log and console.error of a real Express app reach --log-file (or the master's stderr)
// whole, naming the worker's slot, pid and the stream; a line without newline is written when the
// worker exits; a 40 KiB line is split into 16 KiB parts that never cut a character; USR1 moves
// the app's lines to the new file; a flood of lines loses none and leaves the master answering
// its admin listener promptly; `app-output raw` passes the stream through untouched.
// Zero-code (app.listen) and export mode (export default app).
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LOG } from '../../src/log.js';
import { MAX_APP_LINE_BYTES } from '../../src/worker/app-output.js';
import { httpRequest, httpTarget, type HttpTarget } from '../helpers/http-load.js';
import { malformedLines, readLogFile, waitForLog, waitForLogEvent } from '../helpers/log-file.js';
import { reapAll, startRaas, tmpDir, waitUntil, type LogEntry } from '../helpers/raas.js';

after(reapAll);

const APP = fileURLToPath(new URL('../../../test/fixtures/app-output-express.mjs', import.meta.url));
const MODES = [
  { mode: 'zero-code', env: {} },
  { mode: 'export', env: { APP_OUTPUT_EXPORT: '1' } },
] as const;

const appLines = (entries: readonly LogEntry[]): LogEntry[] => entries.filter((e) => e.event === LOG.APP_OUTPUT);

/** Asks /hello?id=ID until `workers` different workers have answered; their pids. */
async function helloFromEach(target: HttpTarget, workers: number, id: string): Promise<Set<string>> {
  const pids = new Set<string>();
  await waitUntil(`${workers} workers answered /hello`, async () => {
    pids.add((await httpRequest(target, { path: `/hello?id=${id}` })).text);
    return pids.size === workers;
  }, 15_000);
  return pids;
}

describe('app output as RAAS log lines', () => {
  for (const { mode, env } of MODES) {
    it(`${mode}: console.log/error, a 40 KiB line, a partial line at exit, USR1 reopen, all in --log-file`, async () => {
      const dir = tmpDir();
      const logFile = path.join(dir, 'raas.log');
      const rotated = path.join(dir, 'raas.log.1');
      const raas = await startRaas({
        args: ['--listen', 'http://127.0.0.1:0', '-w', '2', '--app', APP, '--log-file', logFile],
        env: { ...env, RAAS_LOG_FILE: '' },
        waitReady: false,
      });
      const ready = await waitForLogEvent(logFile, LOG.READY, { role: 'master', pid: String(raas.pid) }, { timeoutMs: 20_000 });
      const target = httpTarget(ready.listen!.split(',')[0]!);

      // Both workers' load-time line, with slot, pid and generation of its worker.
      const loaded = await waitForLog(logFile, 'both workers logged their load line', (c) => {
        const lines = appLines(c.entries).filter((e) => e.line?.startsWith('app-output-express loaded in '));
        return lines.length === 2 && lines;
      });
      for (const e of loaded) {
        assert.equal(e.role, 'worker');
        assert.equal(e.stream, 'stdout');
        assert.equal(e.level, 'info');
        assert.equal(e.gen, '1');
        assert.equal(e.line, `app-output-express loaded in ${e.pid}`);
      }
      assert.deepEqual(loaded.map((e) => e.slot).sort(), ['0', '1']);

      const pids = await helloFromEach(target, 2, 'a');
      const said = await waitForLog(logFile, 'both streams of both workers', (c) => {
        const lines = appLines(c.entries).filter((e) => e.line?.includes('id=a'));
        const want = [...pids].flatMap((pid) => [`stdout hello from ${pid} id=a`, `stderr oops from ${pid} id=a`]);
        const have = new Set(lines.map((e) => `${e.stream} ${e.line}`));
        return want.every((w) => have.has(w)) && lines;
      });
      for (const e of said) {
        assert.equal(e.line?.endsWith(`from ${e.pid} id=a`), true, 'the line names the pid of the worker that wrote it');
        assert.equal(e.level, e.stream === 'stderr' ? 'warn' : 'info');
      }

      // A 40 KiB line: three parts of at most 16 KiB, whole characters, joined back exactly.
      await httpRequest(target, { path: '/big' });
      const parts = await waitForLog(logFile, 'the 40 KiB line in parts', (c) => {
        const big = appLines(c.entries).filter((e) => e.part !== undefined);
        return big.length === 3 && big;
      });
      assert.deepEqual(parts.map((e) => [e.part, e.more]), [['1', 'true'], ['2', 'true'], ['3', undefined]]);
      assert.equal(new Set(parts.map((e) => e.pid)).size, 1);
      for (const e of parts) assert.ok(Buffer.byteLength(e.line!) <= MAX_APP_LINE_BYTES, `part ${e.part}: ${Buffer.byteLength(e.line!)} bytes`);
      assert.equal(parts.map((e) => e.line).join(''), 'B'.repeat(16 * 1024 - 1) + '€' + 'C'.repeat(24 * 1024 - 3) + 'é');
      assert.equal(Buffer.byteLength(parts[0]!.line!), 16 * 1024 - 1, 'the cut steps back before the 3-byte character');

      // logrotate: rename, USR1; the app's lines go to the new file from then on.
      fs.renameSync(logFile, rotated);
      raas.signal('SIGUSR1');
      await waitForLogEvent(logFile, LOG.LOGS_REOPENED, { role: 'master' });
      const after = await helloFromEach(target, 2, 'b');
      await waitForLog(logFile, 'app lines after the rotation in the new file', (c) => {
        const have = new Set(appLines(c.entries).map((e) => `${e.pid} ${e.line}`));
        return [...after].every((pid) => have.has(`${pid} hello from ${pid} id=b`));
      });
      assert.deepEqual(appLines(readLogFile(rotated).entries).filter((e) => e.line?.includes('id=b')), []);

      // A line without newline, then a graceful stop: written by the worker as it exits.
      const partialPid = (await httpRequest(target, { path: '/partial?id=p1' })).text;
      raas.signal('SIGQUIT');
      assert.equal((await raas.waitExit()).code, 0);
      const fresh = readLogFile(logFile);
      const partial = appLines(fresh.entries).filter((e) => e.line === 'partial-p1 no newline yet');
      assert.equal(partial.length, 1);
      assert.equal(partial[0]!.newline, 'false');
      assert.equal(partial[0]!.pid, partialPid);
      assert.deepEqual(malformedLines(fresh.lines), []);
      assert.deepEqual(malformedLines(readLogFile(rotated).lines), []);
      assert.equal(fresh.partial, '');
    });
  }

  it('without --log-file the app lines are on the master\'s stderr; app-output raw passes them through untouched', async () => {
    const framed = await startRaas({ args: ['--listen', 'http://127.0.0.1:0', '-w', '1', '--app', APP] });
    const [bound] = await framed.ready();
    const pid = (await httpRequest(httpTarget(bound!), { path: '/hello?id=s' })).text;
    const line = await framed.waitForEvent(LOG.APP_OUTPUT, { stream: 'stderr', line: `oops from ${pid} id=s` });
    assert.equal(line.role, 'worker');
    assert.equal(line.slot, '0');
    assert.equal(line.pid, pid);
    assert.equal(framed.lines.includes(`oops from ${pid} id=s`), false, 'never raw as well');
    framed.signal('SIGQUIT');
    assert.equal((await framed.waitExit()).code, 0);

    const raw = await startRaas({ args: ['--listen', 'http://127.0.0.1:0', '-w', '1', '--app', APP, '--app-output', 'raw'] });
    const [rawBound] = await raw.ready();
    const rawPid = (await httpRequest(httpTarget(rawBound!), { path: '/hello?id=r' })).text;
    await raw.waitFor('the raw stderr line', () => raw.lines.includes(`oops from ${rawPid} id=r`));
    assert.deepEqual(raw.events(LOG.APP_OUTPUT), []);
    raw.signal('SIGQUIT');
    assert.equal((await raw.waitExit()).code, 0);
  });

  for (const { mode, env } of MODES) {
    it(`${mode}: a flood of console.log loses no line, and the master answers its admin listener meanwhile`, async (t) => {
      const dir = tmpDir();
      const logFile = path.join(dir, 'raas.log');
      const PER_REQUEST = 25_000;
      const REQUESTS = 4;
      const raas = await startRaas({
        args: ['--listen', 'http://127.0.0.1:0', '-w', '2', '--app', APP, '--log-file', logFile, '--admin', '127.0.0.1:0'],
        env: { ...env, RAAS_LOG_FILE: '' },
        waitReady: false,
      });
      const ready = await waitForLogEvent(logFile, LOG.READY, { role: 'master', pid: String(raas.pid) }, { timeoutMs: 20_000 });
      const target = httpTarget(ready.listen!.split(',')[0]!);
      const admin = (await waitForLogEvent(logFile, LOG.ADMIN_LISTENING, { role: 'master' })).admin!;
      await helloFromEach(target, 2, 'warm');

      // The master's loop, probed from outside while the workers log: /metrics answers within 2 s each time
      // (the master never touches the app's lines; 2 s leaves room for a machine whose cores are all busy).
      let flooding = true;
      const latencies: number[] = [];
      const probe = (async () => {
        while (flooding) {
          const t0 = performance.now();
          const res = await fetch(`${admin}/metrics`, { signal: AbortSignal.timeout(5_000) });
          await res.text();
          assert.equal(res.status, 200);
          latencies.push(performance.now() - t0);
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      const t0 = performance.now();
      const counts = await Promise.all(
        Array.from({ length: REQUESTS }, () => httpRequest(target, { path: `/flood?n=${PER_REQUEST}`, timeoutMs: 60_000 }).then((r) => Number(r.text))),
      );
      const floodMs = performance.now() - t0;
      flooding = false;
      await probe;
      assert.deepEqual(counts, Array(REQUESTS).fill(PER_REQUEST));

      raas.signal('SIGQUIT');
      assert.equal((await raas.waitExit()).code, 0);
      const content = readLogFile(logFile);
      assert.deepEqual(malformedLines(content.lines), []);
      const flood = appLines(content.entries).filter((e) => e.line?.startsWith('flood '));
      assert.equal(flood.length, PER_REQUEST * REQUESTS, 'every flood line is in the file');
      for (const e of flood) assert.equal(e.line!.split(' ')[1], e.pid, 'each line names the worker that wrote it');
      assert.deepEqual(content.entries.filter((e) => e.event === LOG.LOG_LINES_LOST), []);

      latencies.sort((a, b) => a - b);
      const p50 = latencies[Math.floor(latencies.length / 2)]!;
      const max = latencies[latencies.length - 1]!;
      t.diagnostic(
        `${mode}: ${flood.length} lines in ${floodMs.toFixed(0)} ms = ${Math.round(flood.length / (floodMs / 1000))} lines/s; ` +
          `admin /metrics during it: ${latencies.length} probes, p50 ${p50.toFixed(1)} ms, max ${max.toFixed(1)} ms`,
      );
      assert.ok(latencies.length >= 3, `${latencies.length} probes`);
      assert.ok(max < 2000, `the master answered /metrics within 2 s each time (max ${max.toFixed(0)} ms)`);
    });
  }
});
