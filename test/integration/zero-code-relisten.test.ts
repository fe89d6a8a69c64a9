// Integration: zero-code mode, an app that closes its server and calls listen() again (on the same
// server once it has closed, or on a new one at once) gets RAAS's listener back each time, in
// the same worker, without a failed request and without leaking a descriptor; an app that closes
// its server and never listens again leaves a worker that serves nothing: past `boot-timeout`
// that worker asks to be replaced, and a new one serves (the reason in the log). A zero-code
// app's requests count toward `max-requests`, once each, also on a server that listened again.
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LOG } from '../../src/log.js';
import { httpRequest, httpTarget, type HttpReply, type HttpTarget } from '../helpers/http-load.js';
import { reapAll, startRaas, waitUntil } from '../helpers/raas.js';

after(reapAll);

const fixture = (name: string): string => fileURLToPath(new URL(`../../../test/fixtures/${name}`, import.meta.url));

async function get(target: HttpTarget, path: string): Promise<HttpReply> {
  const reply = await httpRequest(target, { path, timeoutMs: 10_000 });
  assert.equal(reply.status, 200, reply.text);
  return reply;
}

const openFds = (pid: number): number => fs.readdirSync(`/proc/${pid}/fd`).length;

describe('zero-code mode: an app that closes its server', () => {
  it('and listens again (same server after close, a new server at once): the same worker serves on, no request fails, no fd leaks', async (t) => {
    const raas = await startRaas({ args: ['--listen', 'http://127.0.0.1:0', '-w', '1', '--app', fixture('zero-relisten.mjs')] });
    const [bound] = await raas.ready();
    const target = httpTarget(bound!);
    const first = await get(target, '/');
    const pid = Number(first.headers['x-pid']);
    assert.equal(first.headers['x-listens'], '1');
    const fdsBefore = openFds(pid);

    let listens = 1;
    let served = 0;
    for (const how of ['same', 'new', 'same', 'new', 'same', 'new']) {
      await get(target, `/relisten?how=${how}`);
      listens += 1;
      // Sent while the app may be between close() and listen(): such a connection waits in the
      // kernel's queue (the socket stays in LISTEN) and is answered once the app listens again.
      await waitUntil(`the app listens again (${how}, listen #${listens})`, async () => {
        const reply = await get(target, '/');
        served += 1;
        assert.equal(Number(reply.headers['x-pid']), pid, 'the same worker serves');
        return reply.headers['x-listens'] === String(listens);
      }, 10_000);
    }
    const fdsAfter = openFds(pid);
    t.diagnostic(`6 re-listens, ${served} requests between them; fds ${fdsBefore} -> ${fdsAfter}`);
    assert.ok(fdsAfter <= fdsBefore + 3, `each closed server gave its duplicate back: ${fdsBefore} -> ${fdsAfter} fds`);
    assert.ok(!raas.lines.some((l) => l.includes('listen failed')), raas.lines.filter((l) => l.includes('listen failed')).join('\n'));
    assert.equal(raas.events(LOG.WORKER_EXIT, 'master').length, 0, 'no worker left');
    assert.equal(raas.events(LOG.RECYCLE_BEGIN, 'master').length, 0);
    assert.deepEqual(raas.errorLines(), []);
  });

  it('and never listens again: past boot-timeout the worker asks to be replaced, and a new one serves', async (t) => {
    const raas = await startRaas({
      // boot-timeout is both how long a worker may serve nothing and how long its replacement may
      // take to boot: 5 s, as 2 s was too short for an Express worker to boot on a loaded CI machine.
      args: ['--listen', 'http://127.0.0.1:0', '-w', '1', '--boot-timeout', '5', '--app', fixture('zero-relisten.mjs')],
    });
    const [bound] = await raas.ready();
    const target = httpTarget(bound!);
    const oldPid = String((await get(target, '/')).headers['x-pid']);
    const closedAt = Date.now();
    const mark = raas.entries.length;
    await get(target, '/close');

    const lost = await raas.waitForEvent(LOG.APP_STOPPED_LISTENING, { role: 'worker', pid: oldPid }, { after: mark, timeoutMs: 20_000 });
    assert.equal(lost.listen, bound);
    assert.ok(Number(lost.not_listening_ms) >= 5000, `reported after boot-timeout: ${lost.not_listening_ms} ms`);
    const begin = await raas.waitForEvent(LOG.RECYCLE_BEGIN, { role: 'master', worker_pid: oldPid }, { after: mark, timeoutMs: 10_000 });
    assert.equal(begin.reason, 'not-listening');
    const exit = await raas.waitForEvent(LOG.WORKER_EXIT, { role: 'master', worker_pid: oldPid }, { after: mark, timeoutMs: 20_000 });
    assert.equal(exit.reason, 'recycle-not-listening');
    assert.equal(exit.code, '0');
    // The connection sent meanwhile waited in the kernel's queue for the replacement.
    const reply = await get(target, '/');
    assert.notEqual(String(reply.headers['x-pid']), oldPid, 'a new worker serves');
    t.diagnostic(`closed to served by the replacement: ${Date.now() - closedAt} ms`);
    assert.deepEqual(
      raas.errorLines().filter((l) => !l.includes(`event=${LOG.APP_STOPPED_LISTENING}`)),
      [],
    );
  });

  it('max-requests counts its requests, once each, also after it listened again', async () => {
    const raas = await startRaas({
      args: ['--listen', 'http://127.0.0.1:0', '-w', '1', '--max-requests', '10', '--app', fixture('zero-relisten.mjs')],
    });
    const [bound] = await raas.ready();
    const target = httpTarget(bound!);
    const oldPid = String((await get(target, '/')).headers['x-pid']);
    await get(target, '/relisten?how=same');
    let sent = 2;
    await waitUntil('the app listens again', async () => {
      sent += 1;
      return (await get(target, '/')).headers['x-listens'] === '2';
    }, 10_000);
    // Up to the ninth, one at a time: no ask (a request counted twice would ask several early).
    const asked = () => raas.events(LOG.RECYCLE_BEGIN, 'master').find((e) => e.worker_pid === oldPid);
    while (sent < 9) {
      await get(target, '/');
      sent += 1;
    }
    assert.equal(asked(), undefined, `asked before the tenth request: ${JSON.stringify(asked())}`);
    const mark = raas.entries.length;
    await get(target, '/');
    sent += 1;
    const begin = await raas.waitForEvent(LOG.RECYCLE_BEGIN, { role: 'master', worker_pid: oldPid }, { after: mark, timeoutMs: 10_000 });
    assert.deepEqual([begin.reason, begin.requests, begin.limit], ['max-requests', '10', '10']);
    await raas.waitForEvent(LOG.WORKER_EXIT, { role: 'master', worker_pid: oldPid, reason: 'recycle-max-requests' }, { timeoutMs: 20_000 });
  });
});
