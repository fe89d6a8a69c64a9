// Integration (issue 20): a control command whose stdout closes early (`raas status | head -1`)
// ends quietly with exit 0; `raas status --pid FILE` finds a master of another name without
// --name; /metrics has every labelled counter known at start, at 0, before the first event.
// Runs in: the test runner process; drives real masters, control commands, pipes and promtool.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { EXIT_REASONS } from '../../src/master/stats/stats.js';
import { adminUrl, get, promtoolCheck, samples, type Sample } from '../helpers/admin.js';
import { control } from '../helpers/control.js';
import { CLI, reapAll, startRaas, tmpDir, waitUntil } from '../helpers/raas.js';
import { gateSource } from '../helpers/gate.js';

after(reapAll);

/** A control command whose stdout is a pipe nobody reads: its reader is gone before it writes. */
function withClosedStdout(args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // our end of the pipe: the child's next write gets EPIPE
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}

describe('control commands and metrics to trust', () => {
  it('`raas status | head -1` and a closed stdout: exit 0, nothing on stderr', async () => {
    const dir = tmpDir();
    const pid = path.join(dir, 'raas.pid');
    const raas = await startRaas({ args: ['--listen', '127.0.0.1:0', '-w', '2', '--pid', pid] });
    for (const args of [['status'], ['status', '--json']]) {
      const closed = await withClosedStdout([...args, '--pid', pid]);
      assert.deepEqual(closed, { code: 0, signal: null, stderr: '' }, args.join(' '));
    }
    const head = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile('bash', ['-o', 'pipefail', '-c', `"$0" "$1" status --pid "$2" | head -1`, process.execPath, CLI, pid], (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
      );
    });
    assert.deepEqual({ code: head.code, stderr: head.stderr }, { code: 0, stderr: '' });
    assert.match(head.stdout, new RegExp(`^master ${raas.pid} running ready generation=1 workers=2\n$`));
  });

  it('`raas status --pid FILE` without --name reads the name from the status file', async () => {
    const dir = tmpDir();
    const pid = path.join(dir, 'raas.pid');
    const raas = await startRaas({ args: ['--listen', '127.0.0.1:0', '-w', '1', '--pid', pid, '--name', 'shop'] });
    const status = await control(['status', '--pid', pid]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`^master ${raas.pid} running ready generation=1 workers=1$`, 'm'));
    // A name given is still the name required.
    const wrong = await control(['status', '--pid', pid, '--name', 'other']);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /titled "\[shop\] master", not "\[other\] master": pass --name shop/);
    const stopped = await control(['stop', '--pid', pid]);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stdout, new RegExp(`^stopped: master ${raas.pid}$`, 'm'));
    assert.equal((await raas.waitExit()).code, 0);
  });

  it('exports every labelled counter known at start at 0, before the first event', async () => {
    const dir = tmpDir();
    const gate = path.join(dir, 'gate');
    const app = path.join(dir, 'gated-app.mjs');
    // Workers stay booting (no beat, no request, no exit) until the test opens the gate (creates
    // the gate file: the app watches for it).
    fs.writeFileSync(
      app,
      `import * as fs from 'node:fs';\n` +
        `await ${gateSource(gate)};\n` +
        `export default (req, res) => res.end('ok');\n`,
    );
    const raas = await startRaas({
      args: ['--listen', 'http://127.0.0.1:0', '--listen', '127.0.0.1:0', '-w', '2', '--app', app, '--admin', 'http://127.0.0.1:0', '--boot-timeout', '60'],
      waitReady: false,
    });
    const admin = await adminUrl(raas);
    const before = await get(`${admin}/metrics`);
    assert.equal(before.status, 200);
    const check = await promtoolCheck(before.body);
    assert.equal(check.code, 0, `promtool check metrics: ${check.output}`);
    const all = samples(before.body);
    const series = (name: string): Sample[] => all.filter((s) => s.name === name);

    const restarts = series('raas_worker_restarts_total');
    assert.deepEqual(restarts.map((s) => s.labels.reason).sort(), [...EXIT_REASONS].sort());
    assert.ok(restarts.every((s) => s.value === 0));
    for (const name of ['raas_requests_total', 'raas_connections_total', 'raas_request_errors_total']) {
      const found = series(name);
      // 2 listeners x 2 slots, all 0.
      assert.equal(found.length, 4, `${name}: ${JSON.stringify(found)}`);
      assert.ok(found.every((s) => s.value === 0), name);
      assert.deepEqual([...new Set(found.map((s) => s.labels.worker))].sort(), ['0', '1']);
      assert.deepEqual([...new Set(found.map((s) => s.labels.protocol))].sort(), ['http', 'line']);
    }
    for (const outcome of ['done', 'aborted', 'refused']) assert.ok(series('raas_reloads_total').some((s) => s.labels.outcome === outcome && s.value === 0));
    for (const outcome of ['started', 'failed']) assert.ok(series('raas_upgrades_total').some((s) => s.labels.outcome === outcome && s.value === 0));

    // The zeros are the very series the first events count in (same labels), so rate() sees them.
    fs.writeFileSync(gate, '');
    const [http] = await raas.ready();
    assert.equal((await get(`${http}/`)).body, 'ok');
    const labelsOf = (text: string): string[] =>
      samples(text).filter((s) => s.name === 'raas_requests_total').map((s) => JSON.stringify(Object.entries(s.labels).sort())).sort();
    let later = '';
    // The request reaches the master with the worker's next beat.
    await waitUntil('the request in /metrics', async () => {
      later = (await get(`${admin}/metrics`)).body;
      return samples(later).some((s) => s.name === 'raas_requests_total' && s.labels.protocol === 'http' && s.value === 1);
    });
    assert.ok(samples(later).some((s) => s.name === 'raas_requests_total' && s.labels.protocol === 'http' && s.value === 1), later);
    assert.deepEqual(labelsOf(later), labelsOf(before.body));
  });
});
