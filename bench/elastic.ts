// Bench: elastic workers against fixed pools under a load that steps from 1 to 4 busy clients
// and back. Each client is a closed loop of GET /burn?ms=BURN (a CPU-bound handler,
// test/fixtures/elastic-burn-app.mjs), a new connection per request. Three masters, one after the
// other: `-w 1 --max-workers 4`, fixed `-w 2`, fixed `-w 4`. Reports per step the requests
// served, req/s and p99 latency, and the ready workers over time (read from /status once a second).
// Runs in: the bench process; RAAS masters are child processes.
//
// Usage: npm run build && node dist/bench/elastic.js
//   BENCH_ELASTIC_STEP_S (10) seconds per step, BENCH_ELASTIC_BURN_MS (10) per request,
//   BENCH_ELASTIC_DOWN_S (5) the elastic master's scale-down-after. Writes bench/.build/elastic.json.

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { table } from './format.js';
import { ROOT } from './servers.js';

const CLI = path.join(ROOT, 'dist', 'src', 'cli.js');
const APP = path.join(ROOT, 'test', 'fixtures', 'elastic-burn-app.mjs');
const STEP_S = Number(process.env.BENCH_ELASTIC_STEP_S ?? 10);
const BURN_MS = Number(process.env.BENCH_ELASTIC_BURN_MS ?? 10);
const DOWN_S = Number(process.env.BENCH_ELASTIC_DOWN_S ?? 5);
const STEPS = [1, 2, 3, 4, 3, 2, 1];

const CONFIGS: Array<{ name: string; args: string[] }> = [
  { name: 'elastic -w 1 --max-workers 4', args: ['-w', '1', '--max-workers', '4', '--scale-down-after', String(DOWN_S)] },
  { name: 'fixed -w 2', args: ['-w', '2'] },
  { name: 'fixed -w 4', args: ['-w', '4'] },
];

interface Master {
  child: ChildProcess;
  http: { host: string; port: number };
  admin: string;
}

function start(args: string[]): Promise<Master> {
  const child = spawn(process.execPath, [CLI, '--app', APP, '-l', 'http://127.0.0.1:0', '--admin', 'http://127.0.0.1:0', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let admin: string | null = null;
    let partial = '';
    const timer = setTimeout(() => reject(new Error('master not ready after 20 s')), 20_000);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      partial += chunk;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        admin ??= / event=admin-listening .*admin=(\S+)/.exec(line)?.[1] ?? null;
        const listen = / event=ready .*listen=http:\/\/([\d.]+):(\d+)/.exec(line);
        if (listen && admin !== null) {
          clearTimeout(timer);
          resolve({ child, http: { host: listen[1]!, port: Number(listen[2]) }, admin });
        }
      }
    });
    child.once('exit', (code) => reject(new Error(`master exited (code ${code}) before ready`)));
  });
}

function burn(target: Master['http']): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ ...target, path: `/burn?ms=${BURN_MS}`, agent: false, timeout: 20_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

async function readyWorkers(admin: string): Promise<{ ready: number; target: number }> {
  try {
    const res = await fetch(`${admin}/status`, { signal: AbortSignal.timeout(2000) });
    const report = (await res.json()) as { master: { targetWorkers: number }; workers: Array<{ state: string }> };
    return { ready: report.workers.filter((w) => w.state === 'ready').length, target: report.master.targetWorkers };
  } catch {
    return { ready: -1, target: -1 };
  }
}

interface Step {
  clients: number;
  requests: number;
  failed: number;
  rate: number;
  p99ms: number;
  workersMin: number;
  workersMax: number;
}

async function runConfig(config: (typeof CONFIGS)[number]): Promise<{ steps: Step[]; timeline: Array<[number, number, number]> }> {
  const master = await start(config.args);
  const timeline: Array<[number, number, number]> = [];
  const began = Date.now();
  let clients = 0;
  const sampler = setInterval(async () => {
    const { ready } = await readyWorkers(master.admin);
    timeline.push([Math.round((Date.now() - began) / 1000), clients, ready]);
  }, 1000);
  const steps: Step[] = [];
  try {
    for (const n of STEPS) {
      clients = n;
      const latencies: number[] = [];
      let failed = 0;
      const stepStart = Date.now();
      const until = stepStart + STEP_S * 1000;
      const from = timeline.length;
      await Promise.all(
        Array.from({ length: n }, async () => {
          while (Date.now() < until) {
            const t0 = performance.now();
            if (await burn(master.http)) latencies.push(performance.now() - t0);
            else failed += 1;
          }
        }),
      );
      latencies.sort((a, b) => a - b);
      const seen = timeline.slice(from).map((s) => s[2]).filter((r) => r >= 0);
      steps.push({
        clients: n,
        requests: latencies.length,
        failed,
        rate: latencies.length / ((Date.now() - stepStart) / 1000),
        p99ms: latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))] ?? 0,
        workersMin: Math.min(...seen),
        workersMax: Math.max(...seen),
      });
    }
  } finally {
    clearInterval(sampler);
    master.child.kill('SIGQUIT');
    await new Promise((resolve) => master.child.once('exit', resolve));
  }
  return { steps, timeline };
}

async function main(): Promise<void> {
  const results: Record<string, unknown> = { date: new Date().toISOString(), stepSeconds: STEP_S, burnMs: BURN_MS, scaleDownAfter: DOWN_S, configs: {} };
  for (const config of CONFIGS) {
    console.error(`${config.name}: steps ${STEPS.join(' ')} clients, ${STEP_S} s each`);
    const { steps, timeline } = await runConfig(config);
    (results.configs as Record<string, unknown>)[config.name] = { steps, timeline };
    console.log(`\n${config.name}`);
    console.log(
      table(
        ['clients', 'requests', 'failed', 'req/s', 'p99 ms', 'workers'],
        steps.map((s) => [String(s.clients), String(s.requests), String(s.failed), s.rate.toFixed(0), s.p99ms.toFixed(1), s.workersMin === s.workersMax ? String(s.workersMin) : `${s.workersMin}-${s.workersMax}`]),
      ),
    );
    console.log(`workers over time (s:ready): ${timeline.map(([t, , r]) => `${t}:${r}`).join(' ')}`);
  }
  const dir = path.join(ROOT, 'bench', '.build');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'elastic.json'), JSON.stringify(results, null, 2) + '\n');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
