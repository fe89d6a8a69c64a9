// Integration: keep-alive rebalancing (`rebalance`, master/stats/rebalance.ts). 20 keep-alive clients
// all on one worker, then a TTIN: with rebalancing the new worker gets its share within seconds
// (the old one answers some responses `Connection: close`; no request fails); without it, every
// connection stays where it was accepted.
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import * as http from 'node:http';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LOG } from '../../src/log.js';
import { targetOf } from '../helpers/clients.js';
import { reapAll, startRaas, waitUntil, type RaasProcess } from '../helpers/raas.js';

after(reapAll);

const fixture = (name: string): string => fileURLToPath(new URL(`../../../test/fixtures/${name}`, import.meta.url));
const CLEAN_ENV = { RAAS_WORKERS: '', WEB_CONCURRENCY: '', RAAS_LISTEN: '', RAAS_LOG_FILE: '', RAAS_APP: '', RAAS_REBALANCE: '' };
const CLIENTS = 20;

/** 20 keep-alive clients asking /pid in turn; which worker holds each open connection. */
class KeepAliveClients {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  /** Client port -> pid of the worker that last answered on it, for open connections. */
  readonly holder = new Map<number, number>();
  requests = 0;

  constructor(private readonly port: number) {}

  private get(): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: this.port, path: '/pid', agent: this.agent }, (res) => {
        const socket = res.socket;
        const localPort = socket.localPort!;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode}`));
          this.requests++;
          if (res.headers.connection === 'close') this.holder.delete(localPort);
          else {
            this.holder.set(localPort, Number(body));
            socket.once('close', () => this.holder.delete(localPort));
          }
          resolve();
        });
      });
      req.on('error', reject);
    });
  }

  /** One request per client, all at once (no request may fail). */
  round(): Promise<void> {
    return Promise.all(Array.from({ length: CLIENTS }, () => this.get())).then(() => undefined);
  }

  split(): Map<number, number> {
    const counts = new Map<number, number>();
    for (const pid of this.holder.values()) counts.set(pid, (counts.get(pid) ?? 0) + 1);
    return counts;
  }

  close(): void {
    this.agent.destroy();
  }
}

/** One worker with all 20 connections, then a second one (TTIN). */
async function unevenStart(rebalance: 'on' | 'off'): Promise<{ raas: RaasProcess; clients: KeepAliveClients; first: number }> {
  const raas = await startRaas({
    args: ['--listen', 'http://127.0.0.1:0', '-w', '1', '--app', fixture('integ-plain-app.mjs'), '--rebalance', rebalance],
    env: CLEAN_ENV,
  });
  const [bound] = await raas.ready();
  const clients = new KeepAliveClients((targetOf(bound!) as { port: number }).port);
  await clients.round();
  const [first] = [...raas.readyWorkers().values()];
  assert.deepEqual([...clients.split()], [[first, CLIENTS]]);
  raas.signal('SIGTTIN');
  await waitUntil('2 ready workers', () => raas.readyWorkers().size === 2, 20_000);
  return { raas, clients, first: first! };
}

describe('keep-alive rebalancing', () => {
  it('gives a worker added by TTIN its share of open keep-alive connections; no request fails', async () => {
    const { raas, clients, first } = await unevenStart('on');
    try {
      const deadline = Date.now() + 20_000;
      const fair = (): boolean => {
        const counts = [...clients.split().values()];
        return counts.length === 2 && Math.max(...counts) / Math.min(...counts) <= 1.5;
      };
      while (!fair()) {
        assert.ok(Date.now() < deadline, `still ${JSON.stringify([...clients.split()])} after 20 s`);
        await clients.round();
      }
      const shed = raas.events(LOG.REBALANCE_SHED);
      assert.ok(shed.length > 0 && shed.every((e) => Number(e.pid) === first), JSON.stringify(shed));
    } finally {
      clients.close();
    }
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });

  it('rebalance off: the connections stay with the worker that accepted them', async () => {
    const { raas, clients, first } = await unevenStart('off');
    try {
      // Three beats and more of steady traffic: with rebalancing on, the first shed comes after one.
      const until = Date.now() + 3_500;
      while (Date.now() < until) await clients.round();
      assert.deepEqual([...clients.split()], [[first, CLIENTS]]);
      assert.equal(raas.events(LOG.REBALANCE_SHED).length, 0);
    } finally {
      clients.close();
    }
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });
});
