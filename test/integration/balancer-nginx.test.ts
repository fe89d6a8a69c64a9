// Integration: two RAAS instances behind a real nginx running examples/nginx.conf (addresses
// replaced by loopback ports): HTTP through the http module with X-Forwarded-For (RAAS
// --trust-proxy), the line protocol through the stream module with proxy_protocol (PROXY v1).
// Under load from 127.0.0.2: HUP instance A; then the recipe's roll, since open-source nginx has
// no active health checks: A marked down and nginx reloaded, TERM A, start A, A back in. Zero
// client errors (keep-alive clients retry what an nginx reload cuts, counted); RAAS logged
// 127.0.0.2 for both protocols.
// Runs in: the test runner process; drives real processes (RAAS, nginx), sockets and signals.

import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { LOG } from '../../src/log.js';
import { BalancerLoad, type ClientCounts } from '../helpers/balancer-load.js';
import { reapAll, REPO_ROOT, startRaas, tmpDir, waitUntil, type RaasProcess } from '../helpers/raas.js';
import { recipeRaasCommand } from '../helpers/recipes.js';
import { freePort, probe } from '../helpers/sockets.js';

const NGINX_CONF = path.join(REPO_ROOT, 'examples', 'nginx.conf');
const CLIENT_ADDRESS = '127.0.0.2';

let nginx: ChildProcess | null = null;
after(async () => {
  // TERM: nginx's master takes its workers with it (a KILLed master would orphan them).
  if (nginx && nginx.exitCode === null && nginx.signalCode === null) {
    const exited = new Promise((resolve) => nginx!.once('exit', resolve));
    nginx.kill('SIGTERM');
    await exited;
  }
  await reapAll();
});

interface Ports {
  aHttp: number;
  aLine: number;
  bHttp: number;
  bLine: number;
  frontHttp: number;
  frontLine: number;
}

/** examples/nginx.conf with its example addresses replaced by ours; `downA` marks A down. */
function renderConfig(dir: string, p: Ports, downA: boolean): string {
  const down = downA ? ' down' : '';
  const replacements: Array<[string, string]> = [
    ['server 10.0.0.11:8080;', `server 127.0.0.1:${p.aHttp}${down};`],
    ['server 10.0.0.12:8080;', `server 127.0.0.1:${p.bHttp};`],
    ['server 10.0.0.11:2200;', `server 127.0.0.1:${p.aLine}${down};`],
    ['server 10.0.0.12:2200;', `server 127.0.0.1:${p.bLine};`],
    ['listen 80;', `listen 127.0.0.1:${p.frontHttp};`],
    ['listen 2200;', `listen 127.0.0.1:${p.frontLine};`],
    ['pid /run/nginx-raas.pid;', `pid ${dir}/nginx.pid;`],
  ];
  let text = fs.readFileSync(NGINX_CONF, 'utf8');
  for (const [from, to] of replacements) {
    assert.ok(text.includes(from), `examples/nginx.conf no longer has "${from}"`);
    text = text.replace(from, to);
  }
  const file = path.join(dir, 'nginx.conf');
  fs.writeFileSync(file, text);
  return file;
}

function nginxWorkers(masterPid: number): number[] {
  const out = execFileSync('ps', ['-o', 'pid=', '--ppid', String(masterPid)], { encoding: 'utf8' });
  return out.split('\n').map((l) => Number(l.trim())).filter((n) => n > 0);
}

/** HUP to nginx: waits until every worker that served the old configuration is gone. */
async function reloadNginx(masterPid: number): Promise<void> {
  const before = nginxWorkers(masterPid);
  process.kill(masterPid, 'SIGHUP');
  await waitUntil('nginx reloaded (old workers gone, new ones up)', () => {
    const now = nginxWorkers(masterPid);
    return now.length > 0 && now.every((pid) => !before.includes(pid));
  }, 20_000);
}

function startInstance(name: string, http: number, line: number, accessLog: string): Promise<RaasProcess> {
  return startRaas({
    args: [
      '-w', '2',
      '-l', `http://127.0.0.1:${http}`,
      '-l', `line+proxy://127.0.0.1:${line}`,
      '--trust-proxy', '127.0.0.1/32',
      '--proxy-from', '127.0.0.1/32',
      // The recipe's own: it must outlast the balancer's idle keep-alive (balancer-recipes.test.ts).
      '--keep-alive-timeout', String(recipeRaasCommand('nginx.conf').values.keepAliveTimeout),
      '--access-log', accessLog,
      '--name', `RAAS-${name}`,
    ],
    env: { RAAS_DEBUG: '1' },
  });
}

describe('two RAAS instances behind nginx', () => {
  it('examples/nginx.conf passes nginx -t', () => {
    const dir = tmpDir('raas-nginx-t-');
    const file = renderConfig(dir, { aHttp: 1, aLine: 2, bHttp: 3, bLine: 4, frontHttp: 5, frontLine: 6 }, false);
    const out = execFileSync('nginx', ['-t', '-p', dir, '-c', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    void out;
    // nginx -t reports on stderr; a failure throws above.
  });

  it('HUP of A, then A rolled out (down + reload), stopped, started, rolled in: zero client errors, real addresses', async (t) => {
    const dir = tmpDir('raas-nginx-');
    const p: Ports = {
      aHttp: await freePort(), aLine: await freePort(), bHttp: await freePort(), bLine: await freePort(),
      frontHttp: await freePort(), frontLine: await freePort(),
    };
    const logA = path.join(dir, 'access-a.log');
    const logB = path.join(dir, 'access-b.log');
    const all: RaasProcess[] = [];
    let a = await startInstance('a', p.aHttp, p.aLine, logA);
    const b = await startInstance('b', p.bHttp, p.bLine, logB);
    all.push(a, b);

    const conf = renderConfig(dir, p, false);
    nginx = spawn('nginx', ['-p', dir, '-c', conf, '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const nginxOutput: string[] = [];
    for (const s of [nginx.stdout!, nginx.stderr!]) s.on('data', (c: Buffer) => nginxOutput.push(c.toString()));
    const master = nginx.pid!;
    // Probing the HTTP port only: nginx binds every listener at once, and a probe of the stream
    // port would be relayed to RAAS as a line connection from 127.0.0.1.
    await waitUntil('nginx listening', async () => (await probe(p.frontHttp)) === 'connected', 10_000);

    const load = new BalancerLoad(
      { http: { host: '127.0.0.1', port: p.frontHttp }, line: { host: '127.0.0.1', port: p.frontLine }, localAddress: CLIENT_ADDRESS },
      { keepAlive: 3, close: 2, line: 2 },
      // An nginx reload closes its idle client keep-alive connections, racing the client's next
      // request on them (nginx's own keep-alive race, not RAAS's): the keep-alive clients retry
      // such a request once, as RFC 9112 allows for idempotent ones, and the retries are counted.
      { retryReused: true },
    );
    t.after(() => load.stop());
    const t0 = Date.now();
    const phases: string[] = [];
    const steady = async (what: string, n = 30): Promise<void> => {
      phases.push(`+${Date.now() - t0}ms ${what}`);
      const since: ClientCounts = load.snapshot();
      await waitUntil(`${what}: ${n} more replies of every kind`, () => load.progressed(since, n), 20_000);
    };
    await steady('load through nginx');

    let mark = a.entries.length;
    a.signal('SIGHUP');
    await a.waitForEvent(LOG.RELOAD_DONE, { role: 'master' }, { after: mark, timeoutMs: 20_000 });
    await a.waitFor('A\'s old workers gone', () => a.entries.slice(mark).filter((e) => e.event === LOG.WORKER_EXIT && e.gen === '1').length === 2, 20_000);
    await steady('after HUP of A');

    // The recipe's roll: out of nginx's upstreams first, then stop, start, and back in.
    renderConfig(dir, p, true);
    await reloadNginx(master);
    await steady('with A marked down');
    mark = a.entries.length;
    a.signal('SIGTERM');
    assert.equal((await a.waitExit(20_000)).code, 0);
    a = await startInstance('a', p.aHttp, p.aLine, logA);
    all.push(a);
    renderConfig(dir, p, false);
    await reloadNginx(master);
    const aLinesBefore = fs.readFileSync(logA, 'utf8').split('\n').length;
    await steady('with A back');
    await waitUntil('A serves again through nginx', () => fs.readFileSync(logA, 'utf8').split('\n').length > aLinesBefore + 5, 10_000);

    const report = await load.stop();
    t.diagnostic(`replies: ${JSON.stringify(report.ok)}; failures: ${JSON.stringify(report.failures)}`);
    t.diagnostic(`keep-alive requests the clients retried after an nginx reload closed their connection: ${report.clientRetries}`);
    assert.deepEqual(report.failures, {}, `${report.samples.join('\n')}\nphases: ${phases.join('\n')}\nnginx: ${nginxOutput.join('')}`);

    // HTTP: the access log believed nginx's X-Forwarded-For (trust-proxy), and only nginx's.
    const httpReplies = report.ok.keepAlive + report.ok.close;
    const readClientLines = (): string[] =>
      [logA, logB].flatMap((f) => fs.readFileSync(f, 'utf8').split('\n')).filter((l) => l.includes('/reverse?s='));
    // A line is written once the response has closed, a moment after the client has it.
    await waitUntil(`${httpReplies} access lines`, () => readClientLines().length >= httpReplies, 10_000);
    const clientLines = readClientLines();
    assert.deepEqual([...new Set(clientLines.map((l) => l.split(' ')[0]))], [CLIENT_ADDRESS]);
    // Line: nginx's PROXY v1 header named the client.
    const headers = all.flatMap((r) => r.entries).filter((e) => e.event === LOG.PROXY_HEADER && e.listen?.startsWith('line+proxy://'));
    assert.ok(headers.length >= report.ok.line);
    assert.deepEqual([...new Set(headers.map((e) => `${e.client} v${e.version} via ${e.proxy}`))], [`${CLIENT_ADDRESS} v1 via 127.0.0.1`]);
    for (const raas of all) {
      assert.deepEqual(raas.errorLines(), []);
      assert.deepEqual(raas.entries.filter((e) => e.event === LOG.PROXY_REFUSED), []);
    }

    const exited = new Promise((resolve) => nginx!.once('exit', resolve));
    process.kill(master, 'SIGQUIT');
    await exited;
    for (const raas of [a, b]) raas.signal('SIGQUIT');
    for (const raas of [a, b]) assert.equal((await raas.waitExit(20_000)).code, 0);
  });
});
