// Integration: systemd socket activation. systemd-socket-activate binds the sockets, waits for a
// first connection, then execs RAAS with LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES: RAAS serves on the
// inherited fds (named line and http), binds nothing of its own, and QUIT still exits 0.
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { after, describe, it } from 'node:test';
import { LOG } from '../../src/log.js';
import { LineLoad, lineRequest } from '../helpers/clients.js';
import { freePort } from '../helpers/masters.js';
import { isAlive, reapAll, startRaas, waitUntil } from '../helpers/raas.js';

after(reapAll);

const ACTIVATE = '/usr/bin/systemd-socket-activate';

/** Local addresses of the listening TCP sockets a process holds (ss -p). */
function listeningAddressesOf(pid: number): string[] {
  const out = execFileSync('ss', ['-ltnpH'], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((line) => line.includes(`pid=${pid},`))
    .map((line) => line.trim().split(/\s+/)[3] ?? '');
}

function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

describe('systemd socket activation', () => {
  it('serves on the activated sockets only, including a connection queued before RAAS started', async () => {
    assert.ok(fs.existsSync(ACTIVATE), `${ACTIVATE} is missing: run scripts/test-deps.sh`);
    const linePort = await freePort();
    const httpPort = await freePort();
    const raas = await startRaas({
      wrapper: [ACTIVATE, '-l', `127.0.0.1:${linePort}`, '-l', `127.0.0.1:${httpPort}`, '--fdname=line:http'],
      args: ['-w', '2'],
      waitReady: false,
    });
    // In its default (non-accept) mode the activator only listens, and execs RAAS on the first
    // connection attempt without accepting it.
    await raas.waitFor('activator listening', () =>
      raas.lines.some((l) => l.includes(`127.0.0.1:${httpPort}`) && /listening/i.test(l)),
    );
    assert.deepEqual(raas.events(LOG.READY), [], 'nothing started before the first connection');
    // This connection waits in the kernel queue of the activator's socket; a RAAS worker answers it.
    const first = await lineRequest({ host: '127.0.0.1', port: linePort }, 'activated\n');
    assert.equal(first, 'detavitca\n');

    const listen = await raas.ready();
    assert.deepEqual(listen, ['line://systemd-fd-3', 'http://systemd-fd-4']);
    // exec, not fork: LISTEN_PID named this very process, which is now node running RAAS.
    assert.equal(fs.realpathSync(`/proc/${raas.pid}/exe`), fs.realpathSync(process.execPath));
    await raas.waitFor('two ready workers', () => raas.readyWorkers().size === 2);

    // RAAS bound nothing itself: not its defaults (127.0.0.1:2200, 127.0.0.1:8080), nothing else.
    const held = listeningAddressesOf(raas.pid).sort();
    assert.deepEqual(held, [`127.0.0.1:${httpPort}`, `127.0.0.1:${linePort}`].sort());
    for (const pid of raas.readyWorkers().values()) {
      for (const address of listeningAddressesOf(pid)) {
        assert.ok([`127.0.0.1:${linePort}`, `127.0.0.1:${httpPort}`].includes(address), `worker ${pid} holds ${address}`);
      }
    }

    const load = new LineLoad({ host: '127.0.0.1', port: linePort }, 50);
    await waitUntil('load served', () => load.ok > 300);
    const report = await load.stop();
    assert.deepEqual(report.failures, {});

    const health = await httpGet(httpPort, '/healthz');
    assert.equal(health.status, 200);

    const workers = [...raas.readyWorkers().values()];
    raas.signal('SIGQUIT');
    assert.deepEqual(await raas.waitExit(), { code: 0, signal: null });
    for (const pid of workers) await waitUntil(`worker ${pid} gone`, () => !isAlive(pid));
    assert.deepEqual(raas.errorLines(), []);
    // Nobody holds the sockets any more (the activator was replaced by RAAS, not left behind).
    await assert.rejects(lineRequest({ host: '127.0.0.1', port: linePort }, 'x\n'), { code: 'ECONNREFUSED' });
  });
});
