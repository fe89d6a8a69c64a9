// Integration: a draining worker is not held by a trickling line client for longer than
// line-timeout (QUIT stops accepting at once; the connection it still has gets "ERR line timeout").
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, it } from 'node:test';
import { LOG } from '../../src/log.js';
import { connect, targetOf } from '../helpers/clients.js';
import { reapAll, startRaas, waitUntil } from '../helpers/raas.js';

after(reapAll);

/** Length of the accept queue of the listening socket on this port (ss Recv-Q). */
function acceptQueue(port: number): number {
  const out = execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' });
  return Number(out.trim().split(/\s+/)[1] ?? NaN);
}

/**
 * The server side of the connection from `clientPort` is established. On the native line path
 * (TCP_DEFER_ACCEPT) that happens only once the client's first bytes are in: before, the
 * connection is in neither the accept queue nor a worker, and an empty queue proves nothing.
 */
function established(port: number, clientPort: number): boolean {
  const out = execFileSync('ss', ['-tnH', 'state', 'established', `( sport = :${port} and dport = :${clientPort} )`], { encoding: 'utf8' });
  return out.trim().length > 0;
}

it('QUIT with a trickling line client: the worker exits within about line-timeout, the client gets ERR line timeout', async () => {
  const lineTimeoutS = 2;
  const raas = await startRaas({
    args: ['--listen', '127.0.0.1:0', '-w', '1', '--line-timeout', String(lineTimeoutS), '--idle-timeout', '60'],
    env: { RAAS_DEBUG: '' },
  });
  const [tcp] = await raas.ready();
  const target = targetOf(tcp!);
  const workerPid = raas.readyWorkers().get(0)!;

  const socket = connect(target);
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (received += chunk));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  // One byte every 100 ms: never idle, never done (max-line is 64 KiB).
  const trickle = setInterval(() => {
    if (socket.writable) socket.write('x');
  }, 100);
  try {
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const port = (target as { port: number }).port;
    await waitUntil('the worker accepted the client', () => established(port, socket.localPort!) && acceptQueue(port) === 0);

    const quitAt = Date.now();
    raas.signal('SIGQUIT');
    await raas.waitForEvent(LOG.WORKER_DRAINING);
    const exit = await raas.waitForEvent(LOG.WORKER_EXIT, { worker_pid: String(workerPid) }, { timeoutMs: 30_000 });
    const tookMs = Date.now() - quitAt;
    // Generous: the deadline counts from accept (before QUIT), plus a loaded machine's delays.
    assert.ok(tookMs < (lineTimeoutS + 10) * 1000, `worker took ${tookMs} ms to exit`);
    assert.equal(exit.code, '0', `worker exit: ${JSON.stringify(exit)}`);
    await closed;
    assert.equal(received, 'ERR line timeout\n');
    const counted = raas.events(LOG.LINE_TIMEOUTS);
    assert.equal(counted.reduce((sum, e) => sum + Number(e.count), 0), 1, 'one line timeout logged');
    assert.equal((await raas.waitExit()).code, 0);
    assert.deepEqual(raas.errorLines(), []);
  } finally {
    clearInterval(trickle);
    socket.destroy();
  }
});
