// Integration: the admin listener's GET /healthz (src/admin/health.ts) on a real master, with
// real requests in every state: 503 while no worker is ready (at boot, after WINCH), 200 once one
// is (and through a HUP whose new workers are still booting), 503 from the first request after
// the master began a lame duck (while the app still answers) and during a stop's drain.
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { LOG } from '../../src/log.js';
import { adminUrl } from '../helpers/admin.js';
import { httpRequest, httpTarget } from '../helpers/http-load.js';
import { REPO_ROOT, reapAll, startRaas, tmpDir, waitUntil } from '../helpers/raas.js';

after(reapAll);

const APP = path.join(REPO_ROOT, 'test', 'fixtures', 'health-gate-app.mjs');

interface Answer {
  status: number;
  body: { status: string; reason: string; phase: string; generation: number; readyWorkers: number; readyPrevious: number };
}

async function healthz(admin: string): Promise<Answer> {
  const res = await fetch(`${admin}/healthz`, { signal: AbortSignal.timeout(5000) });
  assert.equal(res.headers.get('content-type'), 'application/json');
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

describe('admin /healthz', () => {
  it('503 while no worker is ready, 200 once one is, through a HUP, 503 again after WINCH', async () => {
    const dir = tmpDir();
    const gate = path.join(dir, 'gate');
    fs.writeFileSync(gate, '');
    const raas = await startRaas({
      args: ['-l', 'http://127.0.0.1:0', '-w', '2', '--app', APP, '--admin', 'http://127.0.0.1:0'],
      env: { RAAS_HEALTH_GATE: gate },
      waitReady: false,
    });
    const admin = await adminUrl(raas);
    // The master is up and its workers are booting (held at the gate): not serving yet.
    await raas.waitFor('both workers spawned', () => raas.liveWorkerPids().length === 2);
    const booting = await healthz(admin);
    assert.equal(booting.status, 503);
    assert.deepEqual([booting.body.status, booting.body.reason, booting.body.readyWorkers], ['unavailable', 'no-worker-ready', 0]);

    fs.rmSync(gate);
    const target = httpTarget((await raas.ready())[0]!);
    const ready = await healthz(admin);
    assert.equal(ready.status, 200);
    assert.deepEqual([ready.body.status, ready.body.reason, ready.body.phase, ready.body.readyWorkers], ['ok', 'ready', 'running', 2]);

    // HUP with the new generation held at the gate: the old workers still serve, and count.
    fs.writeFileSync(gate, '');
    raas.signal('SIGHUP');
    await raas.waitForEvent(LOG.RELOAD_START, { role: 'master' });
    await waitUntil('the new generation is current', async () => (await healthz(admin)).body.generation === 2);
    const rolling = await healthz(admin);
    assert.equal(rolling.status, 200);
    assert.deepEqual([rolling.body.readyWorkers, rolling.body.readyPrevious], [0, 2]);
    assert.equal((await httpRequest(target, { path: '/', timeoutMs: 5000 })).status, 200);
    fs.rmSync(gate);
    await raas.waitForEvent(LOG.RELOAD_DONE, { role: 'master' });
    await waitUntil('the old generation gone', async () => {
      const h = await healthz(admin);
      return h.status === 200 && h.body.readyWorkers === 2 && h.body.readyPrevious === 0;
    });

    // WINCH: the workers stop, the master stays: no worker ready.
    raas.signal('SIGWINCH');
    await raas.waitForEvent(LOG.WORKERS_STOPPED, { role: 'master' });
    await waitUntil('/healthz 503 with the workers stopped', async () => (await healthz(admin)).status === 503);
    assert.equal((await healthz(admin)).body.reason, 'no-worker-ready');
    raas.signal('SIGTTIN');
    await waitUntil('/healthz 200 with one worker back', async () => (await healthz(admin)).status === 200);
    assert.equal((await healthz(admin)).body.readyWorkers, 1);

    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit(20_000)).code, 0);
    assert.deepEqual(raas.errorLines(), []);
  });

  it('lame duck: 503 from the first request after the master began it, while the app still serves', async () => {
    const raas = await startRaas({ args: ['-l', 'http://127.0.0.1:0', '-w', '2', '--app', APP, '--admin', 'http://127.0.0.1:0', '--lame-duck', '3'] });
    const target = httpTarget((await raas.ready())[0]!);
    const admin = await adminUrl(raas);
    assert.equal((await healthz(admin)).status, 200);

    // Probe without pause across the TERM: every answer after the first 503 is a 503, and the
    // first request sent after the lame-duck line is one (no retry, no grace).
    const answers: number[] = [];
    let probing = true;
    const prober = (async () => {
      while (probing) answers.push((await healthz(admin)).status);
    })();
    await waitUntil('a few 200s first', () => answers.length >= 5);
    raas.signal('SIGTERM');
    await raas.waitForEvent(LOG.LAME_DUCK, { role: 'master', seconds: '3' });
    const first = await healthz(admin);
    assert.equal(first.status, 503);
    assert.deepEqual([first.body.reason, first.body.phase], ['lame-duck', 'lame-duck']);
    // Still serving meanwhile: the instance is leaving, not gone.
    const reply = await httpRequest(target, { path: '/', timeoutMs: 5000 });
    assert.deepEqual([reply.status, reply.text], [200, 'fine']);
    await waitUntil('more probes during lame duck', () => answers.lastIndexOf(200) < answers.length - 5);
    probing = false;
    await prober;
    const firstDown = answers.indexOf(503);
    assert.ok(firstDown > 0, `answers: ${answers.join(',')}`);
    assert.deepEqual([...new Set(answers.slice(firstDown))], [503], 'never 200 again once lame');
    assert.equal((await raas.waitExit(20_000)).code, 0);
    assert.deepEqual(raas.errorLines(), []);
  });

  it('stop: 503 while the workers drain', async () => {
    const mark = path.join(tmpDir(), 'slow');
    const raas = await startRaas({
      args: ['-l', 'http://127.0.0.1:0', '-w', '1', '--app', APP, '--admin', 'http://127.0.0.1:0'],
      env: { RAAS_HEALTH_SLOW_MARK: mark },
    });
    const target = httpTarget((await raas.ready())[0]!);
    const admin = await adminUrl(raas);
    assert.equal((await healthz(admin)).status, 200);
    // A request in flight keeps the drain (and the master, and its admin listener) going.
    const slow = httpRequest(target, { path: '/slow?ms=3000', timeoutMs: 10_000 });
    await waitUntil('the slow request reached the app', () => fs.existsSync(mark));
    raas.signal('SIGQUIT');
    await raas.waitForEvent(LOG.STOPPING, { role: 'master' });
    const stopping = await healthz(admin);
    assert.equal(stopping.status, 503);
    assert.deepEqual([stopping.body.reason, stopping.body.phase], ['stopping', 'stopping']);
    assert.equal((await slow).status, 200);
    assert.equal((await raas.waitExit(20_000)).code, 0);
  });
});
