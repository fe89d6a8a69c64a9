// Integration: `lame-duck S` on a real master. TERM turns the built-in /healthz to 503 at once
// (measured) while /reverse and new connections are still served for S seconds; then the stop
// proceeds and the master exits 0. A second TERM during lame duck stops at once; a worker killed
// during lame duck is replaced by one that is lame from its first request.
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { LOG } from '../../src/log.js';
import { httpRequest, httpTarget, type HttpTarget } from '../helpers/http-load.js';
import { isAlive, reapAll, startRaas, waitUntil } from '../helpers/raas.js';

after(reapAll);

const healthz = async (target: HttpTarget): Promise<number> => (await httpRequest(target, { path: '/healthz', timeoutMs: 5000 })).status;

describe('lame duck', () => {
  it('TERM: /healthz 503 within a moment, everything else served for S seconds, then a clean stop', async (t) => {
    const raas = await startRaas({ args: ['-l', 'http://127.0.0.1:0', '-w', '2', '--lame-duck', '3'] });
    const target = httpTarget((await raas.ready())[0]!);
    assert.equal(await healthz(target), 200);

    const termAt = Date.now();
    raas.signal('SIGTERM');
    await waitUntil('/healthz answers 503', async () => (await healthz(target)) === 503, 5000);
    const turnedMs = Date.now() - termAt;
    await raas.waitForEvent(LOG.LAME_DUCK, { role: 'master', seconds: '3', then: 'bounded-stop' });
    t.diagnostic(`/healthz turned 503 ${turnedMs} ms after TERM`);
    // Every worker is lame, whichever one a new connection lands on.
    await raas.waitFor('both workers lame', () => raas.events(LOG.LAME_DUCK, 'worker').length === 2);
    const during: number[] = [];
    for (let i = 0; i < 20; i++) {
      during.push(await healthz(target));
      const reply = await httpRequest(target, { path: '/reverse?s=still-here', timeoutMs: 5000 });
      assert.deepEqual([reply.status, reply.text], [200, 'ereh-llits']);
    }
    assert.deepEqual([...new Set(during)], [503]);
    assert.equal(raas.events(LOG.WORKER_DRAINING).length, 0, 'no worker drains during lame duck');

    const { code } = await raas.waitExit(20_000);
    assert.equal(code, 0);
    const stopping = raas.events(LOG.STOPPING, 'master')[0]!;
    const lame = raas.events(LOG.LAME_DUCK, 'master')[0]!;
    const waitedMs = Date.parse(stopping.time!) - Date.parse(lame.time!);
    assert.ok(waitedMs >= 2900, `the stop began ${waitedMs} ms after lame duck, expected about 3000`);
    assert.deepEqual(raas.errorLines(), []);
  });

  it('a second TERM during lame duck stops at once; a worker killed meanwhile comes back lame', async () => {
    const raas = await startRaas({ args: ['-l', 'http://127.0.0.1:0', '-w', '1', '--lame-duck', '60'] });
    const target = httpTarget((await raas.ready())[0]!);
    const first = raas.readyWorkers().get(0)!;
    raas.signal('SIGQUIT');
    await raas.waitForEvent(LOG.LAME_DUCK, { role: 'worker' });
    process.kill(first, 'SIGKILL');
    await raas.waitFor('a replacement ready', () => {
      const pid = raas.readyWorkers().get(0);
      return pid !== undefined && pid !== first;
    });
    // The replacement never answered 200: it booted lame.
    assert.equal(await healthz(target), 503);
    const replacement = raas.readyWorkers().get(0)!;
    assert.ok(raas.entries.some((e) => e.event === LOG.LAME_DUCK && e.role === 'worker' && e.pid === String(replacement)));

    const termAt = Date.now();
    raas.signal('SIGTERM');
    const { code } = await raas.waitExit(10_000);
    assert.equal(code, 0);
    assert.ok(Date.now() - termAt < 10_000);
    await raas.waitForEvent(LOG.STOPPING, { role: 'master', mode: 'immediate' });
    assert.equal(isAlive(replacement), false);
  });
});
