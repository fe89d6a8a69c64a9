// Integration: drains that end. On QUIT the master stops accepting at once (a new client is
// refused, not parked in a queue nobody accepts from), a client that trickles forever is cut
// at `worker-shutdown-timeout`, `raas quit` returns once every worker is gone, and the master
// exits 0.
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { LOG } from '../../src/log.js';
import { connect, targetOf } from '../helpers/clients.js';
import { CLI, isAlive, reapAll, startRaas, tmpDir, waitUntil } from '../helpers/raas.js';
import { acceptQueueLength, probe } from '../helpers/sockets.js';

after(reapAll);

function control(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('bounded drains', () => {
  it('QUIT with a trickling client: new clients refused at once, the trickler cut at worker-shutdown-timeout', async () => {
    const dir = tmpDir('raas-drain-');
    const pidFile = path.join(dir, 'raas.pid');
    const raas = await startRaas({
      args: ['--listen', '127.0.0.1:0', '-w', '1', '--pid', pidFile, '--worker-shutdown-timeout', '3', '--idle-timeout', '60', '--line-timeout', '60'],
    });
    const [tcp] = await raas.ready();
    const target = targetOf(tcp!) as { host: string; port: number };
    const worker = [...raas.readyWorkers().values()][0]!;

    // One byte every 100 ms, never a newline: the line protocol never answers, never times out.
    const trickler = connect(target);
    let closedAt = 0;
    const closed = new Promise<void>((resolve) => trickler.on('close', () => resolve()));
    trickler.on('close', () => (closedAt = Date.now()));
    trickler.on('error', () => {});
    const drip = setInterval(() => trickler.write('x'), 100);
    try {
      await new Promise<void>((resolve) => trickler.once('connect', () => resolve()));
      await waitUntil('the worker accepted the trickler', () => acceptQueueLength(target.port) === 0);

      const quit = control(['quit', '--pid', pidFile]);
      await raas.waitForEvent(LOG.WORKER_DRAINING, { role: 'worker' });
      const quitAt = Date.now();
      // Refused, not queued: the master closed its copy and the draining worker closed its own.
      await waitUntil('new connections refused', async () => (await probe(target.port, target.host)) === 'ECONNREFUSED', 5_000);
      assert.equal(closedAt, 0, 'refused while the trickler is still being drained');
      const closedEntry = raas.events(LOG.LISTENER_CLOSED, 'master').find((e) => e.why === 'stopping');
      assert.ok(closedEntry, 'the master logged closing its sockets');

      const cut = await raas.waitForEvent(LOG.WORKER_DRAIN_TIMEOUT, { role: 'master', worker_pid: String(worker) }, { timeoutMs: 20_000 });
      assert.ok(cut.connections_cut === 'unknown' || Number(cut.connections_cut) >= 1, `connections_cut=${cut.connections_cut}`);
      await closed;
      assert.ok(closedAt - quitAt >= 2_500, `the trickler was cut ${closedAt - quitAt} ms after QUIT, before the timeout`);
      const exit = await raas.waitForEvent(LOG.WORKER_EXIT, { role: 'master', worker_pid: String(worker) });
      assert.equal(exit.reason, 'drain-timeout');
      assert.equal(exit.signal, 'SIGKILL');

      const result = await quit;
      assert.equal(result.code, 0, result.stderr);
      assert.equal(isAlive(worker), false, 'raas quit returned with the worker gone');
      assert.equal((await raas.waitExit()).code, 0);
    } finally {
      clearInterval(drip);
      trickler.destroy();
    }
  });
});
