// Integration: the lame duck of a line+proxy listener, which has no /healthz. A balancer's own
// health check (PROXY v2 LOCAL, as haproxy's tcp-check with check-send-proxy sends it) is served
// like any line until TERM, then answered "ERR draining" from every worker's first lame instant
// (one spawned during the lame duck included), while relayed clients are still served; the
// listener closes only after the lame duck. No HTTP listener: the line port is checked by itself.
// Runs in: the test runner process; drives a real RAAS master and workers over loopback.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { LOG } from '../../src/log.js';
import { readyWorkersOf } from '../helpers/masters.js';
import { exchange, proxyV2 } from '../helpers/proxy-client.js';
import { isAlive, reapAll, startRaas, waitUntil } from '../helpers/raas.js';
import { freePort } from '../helpers/sockets.js';

after(reapAll);

const LAME_DUCK_S = 4;

describe('lame duck on a line+proxy listener', () => {
  it('fails the balancer\'s LOCAL check from the first lame instant while still serving clients, then stops', async () => {
    const port = await freePort();
    const raas = await startRaas({
      args: ['-w', '2', '-l', `line+proxy://127.0.0.1:${port}`, '--lame-duck', String(LAME_DUCK_S), '--shutdown-timeout', '10'],
    });
    const to = { host: '127.0.0.1', port };
    // What haproxy's tcp-check sends (examples/haproxy.cfg), and a relayed client.
    const check = async (): Promise<string> => (await exchange(to, [Buffer.concat([proxyV2('0.0.0.0', 0, '0.0.0.0', 0, { local: true }), Buffer.from('gnip\n')])], { timeoutMs: 5000 })).text;
    const client = async (): Promise<string> => (await exchange(to, [Buffer.concat([proxyV2('192.0.2.7', 40000, '127.0.0.1', port), Buffer.from('olleh\n')])], { timeoutMs: 5000 })).text;

    // Several tries, so that both workers very likely answer some.
    for (let i = 0; i < 8; i++) {
      assert.equal(await check(), 'ping\n', 'before TERM the check is served like any line');
      assert.equal(await client(), 'hello\n');
    }

    const mark = raas.entries.length;
    const workers = readyWorkersOf(raas, raas.pid);
    raas.signal('SIGTERM');
    await raas.waitForEvent(LOG.LAME_DUCK, { role: 'master' }, { after: mark });
    await raas.waitFor('both workers lame', () => raas.entries.slice(mark).filter((e) => e.event === LOG.LAME_DUCK && e.role === 'worker').length === 2);
    for (let i = 0; i < 8; i++) {
      assert.equal(await check(), 'ERR draining\n', 'a lame worker refuses the balancer\'s check');
      assert.equal(await client(), 'hello\n', 'and still serves relayed clients');
    }

    // A worker that replaces a dead one during the lame duck is lame from its first connection.
    const victim = workers[0]!;
    process.kill(victim, 'SIGKILL');
    await waitUntil('the killed worker gone', () => !isAlive(victim));
    await raas.waitFor('its replacement ready', () => readyWorkersOf(raas, raas.pid).filter((p) => !workers.includes(p)).length === 1, 10_000);
    for (let i = 0; i < 8; i++) assert.equal(await check(), 'ERR draining\n');
    assert.equal(await client(), 'hello\n');

    // The lame duck still ran its course: nothing stopped before its end.
    const lame = raas.events(LOG.LAME_DUCK, 'master').at(-1)!;
    const stopping = await raas.waitForEvent(LOG.STOPPING, { role: 'master' }, { after: mark, timeoutMs: (LAME_DUCK_S + 5) * 1000 });
    assert.ok(Date.parse(stopping.time!) - Date.parse(lame.time!) >= LAME_DUCK_S * 1000 - 50);
    assert.equal((await raas.waitExit(15_000)).code, 0);
    assert.deepEqual(raas.errorLines().filter((l) => !l.includes(`worker_pid=${victim} `)), []);
  });
});
