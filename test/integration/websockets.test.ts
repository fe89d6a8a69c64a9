// Integration: WebSockets through a real master with real `ws` clients, in export mode (an
// `upgrade` export) and zero-code mode (the app's own ws server). Through HUP, TTOU and a USR2
// hand-over, the app's workerDrain closes every WebSocket with 1001, every client reconnects to a
// live new worker, and not one HTTP request of a concurrent load fails.
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import { after, afterEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LOG } from '../../src/log.js';
import { HttpLoad, httpTarget, type HttpLoadReport } from '../helpers/http-load.js';
import { freePort, readyWorkersOf, upgrade, waitMasterStopped } from '../helpers/masters.js';
import { reapAll, startRaas, waitUntil, type RaasProcess } from '../helpers/raas.js';
import { io as socketIo, type Socket } from 'socket.io-client';
import { ReconnectingClients } from '../helpers/ws-clients.js';

after(reapAll);

const fixture = (name: string): string => fileURLToPath(new URL(`../../../test/fixtures/${name}`, import.meta.url));
const show = (report: HttpLoadReport): string => JSON.stringify({ ...report, byPid: undefined }, null, 1);
const echo = (client: number, n: number): { path: string; expected: string } => {
  const s = `c${client}-n${n}`;
  return { path: `/?s=${s}`, expected: s };
};

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0)) await f();
});

async function served(load: HttpLoad, more: number): Promise<void> {
  const before = load.ok;
  await waitUntil(`${more} more requests served`, () => load.ok >= before + more, 15_000);
}

interface Running {
  raas: RaasProcess;
  port: number;
  clients: ReconnectingClients;
  load: HttpLoad;
}

async function startWith(app: string, extra: string[] = []): Promise<Running> {
  const port = await freePort(); // fixed, so that a USR2 master's config names the same socket
  const raas = await startRaas({
    args: ['--listen', `http://127.0.0.1:${port}`, '-w', '3', '--app', fixture(app), ...extra],
  });
  await raas.ready();
  const clients = new ReconnectingClients(`ws://127.0.0.1:${port}/`, 12);
  const load = new HttpLoad(httpTarget(`http://127.0.0.1:${port}`), { concurrency: 20, request: echo });
  cleanup.push(() => clients.close(), () => load.stop());
  await waitUntil('every WebSocket client connected', () => clients.settledOn(), 15_000);
  await served(load, 200);
  return { raas, port, clients, load };
}

/** Every client reconnected to one of `pids`, only clean 1001 closes, no HTTP failure. */
async function settled(r: Running, pids: () => number[], t: { diagnostic(s: string): void }): Promise<void> {
  await waitUntil('every WebSocket client on a new worker', () => r.clients.settledOn(pids()), 20_000);
  await served(r.load, 200);
  const report = await r.load.stop();
  t.diagnostic(`ws closes: ${JSON.stringify(r.clients.closes)}; http: ${JSON.stringify({ ...report, samples: undefined, byPid: undefined })}`);
  assert.deepEqual(Object.keys(r.clients.closes), ['1001'], JSON.stringify(r.clients.closes));
  assert.ok(r.clients.closes[1001]! >= 1);
  assert.deepEqual(r.clients.errors, []);
  assert.deepEqual(report.failures, {}, show(report));
  r.clients.close(); // before the final QUIT, which would close them (1001) once more
}

for (const [mode, app] of [['export mode (upgrade export)', 'ws-export-app.mjs'], ['zero-code mode (own ws server)', 'zero-ws.mjs']] as const) {
  describe(`WebSockets, ${mode}`, () => {
    it('HUP then TTOU: clients get 1001, reconnect to live workers; no HTTP request fails', async (t) => {
      const r = await startWith(app);
      const gen1 = [...r.raas.readyWorkers().values()];
      let mark = r.raas.entries.length;
      r.raas.signal('SIGHUP');
      await r.raas.waitForEvent(LOG.RELOAD_DONE, { role: 'master', gen: '2' }, { after: mark, timeoutMs: 20_000 });
      const gen2 = (): number[] => [...r.raas.readyWorkers().values()].filter((p) => !gen1.includes(p));
      await waitUntil('every WebSocket client on generation 2', () => r.clients.settledOn(gen2()), 20_000);

      // TTOU retires slot 2: its clients move to slots 0 and 1.
      const slot2 = r.raas.readyWorkers().get(2)!;
      assert.ok(slot2);
      mark = r.raas.entries.length;
      r.raas.signal('SIGTTOU');
      await r.raas.waitForEvent(LOG.WORKER_EXIT, { role: 'master', slot: '2', code: '0' }, { after: mark, timeoutMs: 20_000 });
      await settled(r, () => gen2().filter((p) => p !== slot2), t);
      r.raas.signal('SIGQUIT');
      assert.equal((await r.raas.waitExit()).code, 0);
    });
  });
}

describe('socket.io (zero-code, WebSocket transport)', () => {
  it('HUP: every client reconnects by itself to a new worker and its acks work; no HTTP request fails', async (t) => {
    const port = await freePort();
    const raas = await startRaas({
      args: ['--listen', `http://127.0.0.1:${port}`, '-w', '2', '--app', fixture('zero-socketio.mjs')],
    });
    await raas.ready();
    const pidOf: Array<number | null> = [];
    const sockets: Socket[] = [];
    for (let i = 0; i < 6; i++) {
      const socket = socketIo(`http://127.0.0.1:${port}`, { transports: ['websocket'], reconnectionDelay: 50, reconnectionDelayMax: 200 });
      pidOf.push(null);
      socket.on('hello', (pid: number) => (pidOf[i] = pid));
      socket.on('disconnect', () => (pidOf[i] = null));
      sockets.push(socket);
    }
    const load = new HttpLoad(httpTarget(`http://127.0.0.1:${port}`), { concurrency: 10, request: echo });
    cleanup.push(() => sockets.forEach((s) => s.disconnect()), () => load.stop());
    const onWorkers = (pids: number[]): boolean => pidOf.every((p) => p !== null && pids.includes(p));
    const gen1 = [...raas.readyWorkers().values()];
    await waitUntil('every socket.io client connected', () => onWorkers(gen1), 15_000);

    const mark = raas.entries.length;
    raas.signal('SIGHUP');
    await raas.waitForEvent(LOG.RELOAD_DONE, { role: 'master', gen: '2' }, { after: mark, timeoutMs: 20_000 });
    const gen2 = (): number[] => [...raas.readyWorkers().values()].filter((p) => !gen1.includes(p));
    await waitUntil('every socket.io client on generation 2', () => onWorkers(gen2()), 20_000);
    const acks = await Promise.all(sockets.map((s, i) => s.timeout(5000).emitWithAck('echo', `m${i}`) as Promise<string>));
    acks.forEach((ack, i) => assert.equal(ack, `m${i} from ${pidOf[i]}`));
    await served(load, 100);
    const report = await load.stop();
    t.diagnostic(`http: ${JSON.stringify({ ...report, samples: undefined, byPid: undefined })}`);
    assert.deepEqual(report.failures, {}, show(report));
    for (const s of sockets) s.disconnect();
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });
});

describe('WebSockets through a USR2 hand-over', () => {
  it('the old generation closes its clients with 1001; they reconnect to the new master\'s workers', async (t) => {
    const r = await startWith('ws-export-app.mjs', ['--upgrade-handover', 'auto']);
    const oldPid = r.raas.pid;
    const { newPid, mark } = await upgrade(r.raas, oldPid);
    await r.raas.waitForEvent(LOG.REEXEC_HANDOVER, { pid: String(newPid), old_master_pid: String(oldPid) }, { after: mark, timeoutMs: 20_000 });
    assert.deepEqual(await r.raas.waitExit(), { code: 0, signal: null });
    await settled(r, () => readyWorkersOf(r.raas, newPid), t);
    process.kill(newPid, 'SIGQUIT');
    assert.equal((await waitMasterStopped(r.raas, newPid)).exit_code, '0');
  });
});
