// Integration: QUIT, TERM and INT stop the master as documented; no accepted request is lost
// by a graceful stop, and a worker that will not finish is killed at the TERM deadline.
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type * as net from 'node:net';
import { after, describe, it } from 'node:test';
import { LOG } from '../../src/log.js';
import { connect, targetOf, type Target } from '../helpers/clients.js';
import { isAlive, reapAll, startRaas, waitUntil, type RaasProcess } from '../helpers/raas.js';

after(reapAll);

/** Length of the accept queue of the listening socket on this port (ss Recv-Q). */
function acceptQueue(port: number): number {
  const out = execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' });
  return Number(out.trim().split(/\s+/)[1] ?? NaN);
}

/** Opens n connections that each sent half a line, and waits until workers accepted them all. */
async function openHalfRequests(target: Target, n: number): Promise<Array<{ socket: net.Socket; reply: Promise<string> }>> {
  const clients = Array.from({ length: n }, (_, i) => {
    const socket = connect(target);
    const reply = new Promise<string>((resolve, reject) => {
      let data = '';
      socket.setEncoding('utf8');
      socket.on('data', (c: string) => (data += c));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    socket.on('connect', () => socket.write(`request-${i}`));
    return { socket, reply };
  });
  await waitUntil('all connected', () => clients.every((c) => !c.socket.connecting));
  const port = (target as { port: number }).port;
  await waitUntil('workers accepted every connection', () => acceptQueue(port) === 0);
  return clients;
}

async function startTwo(extra: string[] = []): Promise<{ raas: RaasProcess; target: Target }> {
  const raas = await startRaas({ args: ['--listen', '127.0.0.1:0', '-w', '2', ...extra] });
  const [tcp] = await raas.ready();
  return { raas, target: targetOf(tcp!) };
}

describe('stopping', () => {
  it('QUIT finishes every accepted request, then exits 0', async () => {
    // line-timeout far away: the half-sent lines must be finished by their clients, not timed out.
    const { raas, target } = await startTwo(['--line-timeout', '60']);
    const clients = await openHalfRequests(target, 50);
    raas.signal('SIGQUIT');
    await raas.waitFor('both workers draining', () => raas.events(LOG.WORKER_DRAINING).length === 2);
    clients.forEach((c) => c.socket.end('\n'));
    const replies = await Promise.all(clients.map((c) => c.reply));
    replies.forEach((reply, i) => assert.equal(reply, `${[...`request-${i}`].reverse().join('')}\n`));
    assert.equal((await raas.waitExit()).code, 0);
    assert.deepEqual(raas.errorLines(), []);
  });

  it('TERM is graceful but bounded by shutdown-timeout: a stuck worker is killed at the deadline', async () => {
    const { raas, target } = await startTwo(['--shutdown-timeout', '1', '--timeout', '60']);
    const stuck = raas.readyWorkers().get(0)!;
    process.kill(stuck, 'SIGSTOP');
    const started = Date.now();
    raas.signal('SIGTERM');
    await raas.waitForEvent(LOG.STOP_ESCALATE);
    const { code } = await raas.waitExit();
    assert.equal(code, 0);
    assert.ok(Date.now() - started >= 1000);
    assert.equal(isAlive(stuck), false);
    void target;
  });

  it('INT stops at once, cutting in-flight connections', async () => {
    const { raas, target } = await startTwo();
    const clients = await openHalfRequests(target, 5);
    const pids = [...raas.readyWorkers().values()];
    raas.signal('SIGINT');
    const { code } = await raas.waitExit(5000);
    assert.equal(code, 0);
    for (const pid of pids) assert.equal(isAlive(pid), false);
    const outcomes = await Promise.allSettled(clients.map((c) => c.reply));
    for (const outcome of outcomes) {
      // Cut: either reset or an EOF with no reply.
      if (outcome.status === 'fulfilled') assert.equal(outcome.value, '');
    }
  });

  it('a second TERM during a graceful stop makes it immediate', async () => {
    const { raas, target } = await startTwo(['--shutdown-timeout', '60', '--line-timeout', '60']);
    const clients = await openHalfRequests(target, 4);
    raas.signal('SIGTERM');
    await raas.waitFor('both workers draining', () => raas.events(LOG.WORKER_DRAINING).length === 2);
    raas.signal('SIGTERM');
    const { code } = await raas.waitExit(5000);
    assert.equal(code, 0);
    await Promise.allSettled(clients.map((c) => c.reply));
  });
});
