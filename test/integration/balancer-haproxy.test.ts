// Integration: two RAAS instances (two masters, their own ports) behind one real haproxy
// running examples/haproxy.cfg: PROXY v2 to RAAS, HTTP health checks on /healthz, the line
// backend checked on the line port itself (tcp-check with a PROXY LOCAL header, which a lame
// duck answers "ERR draining"), retries with redispatch. Under steady load
// from 127.0.0.2 (HTTP keep-alive, HTTP close, line clients; every reply checked), in sequence:
// HUP instance A; USR2 hand-over on B; TERM A (lame duck longer than the checks need), start A
// again; SIGKILL a worker of B. Zero client errors but for the line connections the SIGKILL cut
// (counted exactly), and RAAS logged 127.0.0.2, not haproxy.
// Also records what a graceful stop costs the balancer: how fast /healthz turns 503 and how fast
// haproxy takes the instance out, and what haproxy had to retry.
// Runs in: the test runner process; drives real processes (RAAS, haproxy), sockets and signals.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { LOG } from '../../src/log.js';
import { BalancerLoad, type ClientCounts } from '../helpers/balancer-load.js';
import { Haproxy, HAPROXY_CFG, reapHaproxies } from '../helpers/haproxy.js';
import { readyWorkersOf, upgrade, waitMasterStopped } from '../helpers/masters.js';
import { exchange, proxyV2, rawGet, responseOf } from '../helpers/proxy-client.js';
import { isAlive, reapAll, startRaas, tmpDir, waitUntil, type RaasProcess } from '../helpers/raas.js';
import { recipeRaasCommand } from '../helpers/recipes.js';
import { freePort } from '../helpers/sockets.js';
import { tcpRows, type TcpRow } from '../helpers/proc-sockets.js';

after(async () => {
  await reapHaproxies();
  await reapAll();
});

const CLIENT_ADDRESS = '127.0.0.2';
/** haproxy checks every 300 ms, every 100 ms once one failed; fall 2 -> out within ~0.5 s. */
const CHECK_ENV = { CHECK_INTER: '300ms', CHECK_FASTINTER: '100ms', CHECK_DOWNINTER: '300ms' };
const LAME_DUCK_S = 2;

interface Instance {
  name: 'a' | 'b';
  http: number;
  line: number;
  accessLog: string;
  pidFile: string;
}

function startInstance(i: Instance): Promise<RaasProcess> {
  return startRaas({
    args: [
      '-w', '2',
      '-l', `http+proxy://127.0.0.1:${i.http}`,
      '-l', `line+proxy://127.0.0.1:${i.line}`,
      // Only haproxy (127.0.0.1) may send headers: the clients' 127.0.0.2 may not.
      '--proxy-from', '127.0.0.1/32',
      '--lame-duck', String(LAME_DUCK_S),
      '--shutdown-timeout', '20',
      // The recipe's own: it must outlast the balancer's idle keep-alive (balancer-recipes.test.ts).
      '--keep-alive-timeout', String(recipeRaasCommand('haproxy.cfg').values.keepAliveTimeout),
      '--access-log', i.accessLog,
      '--pid', i.pidFile,
      '--upgrade-handover', 'auto',
      '--name', `RAAS-${i.name}`,
    ],
    // Debug lines name the client of every PROXY connection (the line protocol's only per-connection log).
    env: { RAAS_DEBUG: '1' },
  });
}

/** The connected TCP sockets with local port `port` that process `pid` holds (Linux /proc). */
function connectionsHeld(pid: number, port: number): TcpRow[] {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  return tcpRows().filter((r) => r.localPort === port && inodes.has(r.inode));
}

/** /healthz straight to an instance's http+proxy port, as haproxy's checks ask it (v2 LOCAL). */
async function healthz(port: number): Promise<number> {
  const reply = await exchange({ host: '127.0.0.1', port }, [Buffer.concat([proxyV2('0.0.0.0', 0, '0.0.0.0', 0, { local: true }), Buffer.from(rawGet('/healthz'))])], { timeoutMs: 5000 });
  return reply.text === '' ? 0 : responseOf(reply.text).status;
}

describe('two RAAS instances behind haproxy', () => {
  it('HUP, USR2 hand-over, TERM and restart, SIGKILL of a worker: zero client errors but the SIGKILL\'s own, real client address logged', async (t) => {
    const dir = tmpDir('raas-haproxy-');
    const mk = async (name: 'a' | 'b'): Promise<Instance> => ({
      name,
      http: await freePort(),
      line: await freePort(),
      accessLog: path.join(dir, `access-${name}.log`),
      pidFile: path.join(dir, `${name}.pid`),
    });
    const A = await mk('a');
    const B = await mk('b');
    const front = { http: await freePort(), line: await freePort() };
    let a = await startInstance(A);
    const b = await startInstance(B);
    /** Every master process we started (A twice); B's successor logs into b's output. */
    const all = [a, b];

    const haproxy = new Haproxy(path.join(dir, 'haproxy.sock'), {
      ...CHECK_ENV,
      RAAS_FRONT_HTTP: `127.0.0.1:${front.http}`,
      RAAS_FRONT_LINE: `127.0.0.1:${front.line}`,
      RAAS_A_HTTP: `127.0.0.1:${A.http}`,
      RAAS_A_LINE: `127.0.0.1:${A.line}`,
      RAAS_B_HTTP: `127.0.0.1:${B.http}`,
      RAAS_B_LINE: `127.0.0.1:${B.line}`,
    });
    const bothBackends = async (server: 'a' | 'b', wanted: 'UP' | 'DOWN'): Promise<void> => {
      await haproxy.waitStatus('raas_http', server, wanted);
      await haproxy.waitStatus('raas_line', server, wanted);
    };
    await bothBackends('a', 'UP');
    await bothBackends('b', 'UP');

    const load = new BalancerLoad(
      { http: { host: '127.0.0.1', port: front.http }, line: { host: '127.0.0.1', port: front.line }, localAddress: CLIENT_ADDRESS },
      { keepAlive: 4, close: 2, line: 3 },
    );
    t.after(() => load.stop());
    const steady = async (what: string, n = 30): Promise<void> => {
      const since: ClientCounts = load.snapshot();
      await waitUntil(`${what}: ${n} more replies of every kind`, () => load.progressed(since, n), 20_000);
    };
    /** When each step began, in the load's time (its failures carry the same clock). */
    const steps: Array<[string, number]> = [];
    await steady('load through haproxy');

    // 1. HUP instance A: its workers roll.
    steps.push(['hup-a', load.elapsedMs()]);
    let mark = a.entries.length;
    a.signal('SIGHUP');
    await a.waitForEvent(LOG.RELOAD_DONE, { role: 'master' }, { after: mark, timeoutMs: 20_000 });
    await a.waitFor('A\'s old workers gone', () => a.entries.slice(mark).filter((e) => e.event === LOG.WORKER_EXIT && e.gen === '1').length === 2, 20_000);
    await steady('after HUP of A');

    // 2. USR2 on B with auto hand-over: a new master takes B's sockets, the old one leaves.
    steps.push(['usr2-b', load.elapsedMs()]);
    const oldB = b.pid;
    const { newPid: newB, mark: markB } = await upgrade(b, oldB);
    await b.waitForEvent(LOG.READY, { role: 'master', pid: String(newB) }, { after: markB, timeoutMs: 20_000 });
    await waitMasterStopped(b, oldB, 20_000);
    assert.equal(b.events(LOG.LAME_DUCK, 'master').length, 0, 'no lame duck while a successor holds the sockets');
    await steady('after the USR2 hand-over of B');

    // 3. TERM instance A: lame duck, haproxy takes A out, then A drains and exits; start it again.
    steps.push(['term-a', load.elapsedMs()]);
    mark = a.entries.length;
    const termAt = Date.now();
    a.signal('SIGTERM');
    await waitUntil('A\'s /healthz answers 503', async () => (await healthz(A.http)) === 503, 5000);
    const healthz503Ms = Date.now() - termAt;
    await bothBackends('a', 'DOWN');
    const downMs = Date.now() - termAt;
    const stopping = await a.waitForEvent(LOG.STOPPING, { role: 'master' }, { after: mark, timeoutMs: 20_000 });
    const lameDuck = a.events(LOG.LAME_DUCK, 'master').at(-1);
    const lameMs = lameDuck === undefined ? 0 : Date.parse(stopping.time!) - Date.parse(lameDuck.time!);
    assert.ok(downMs < lameMs, `haproxy took A out ${downMs} ms after TERM, after its ${lameMs} ms lame duck ended`);
    assert.equal((await a.waitExit(25_000)).code, 0);
    const stoppedMs = Date.now() - termAt;
    await steady('while A is gone');
    steps.push(['restart-a', load.elapsedMs()]);
    a = await startInstance(A);
    all.push(a);
    await bothBackends('a', 'UP');
    const backMs = Date.now() - termAt;
    await steady('after A came back');

    // 4. SIGKILL a worker of B. A killed worker takes its accepted connections with it. haproxy
    // replays the HTTP requests it cut (retry-on), but in TCP mode it cannot replay a line
    // connection it already sent on: those clients fail, and only those. The test counts them
    // exactly. It freezes the worker (SIGSTOP: the kill then lands at this instant), preferring
    // an instant it holds line connections, and waits until haproxy has read whatever the worker
    // wrote before it froze. Each line connection the worker holds is then one of haproxy's
    // streams (`show sess all`: haproxy's end of the server connection names the client's
    // source port): a stream that has no reply byte yet is lost, one that has its reply is not.
    steps.push(['sigkill', load.elapsedMs()]);
    const victim = readyWorkersOf(b, newB)[0]!;
    let attempts = 0;
    let httpCut = 0;
    /** Client source ports (on 127.0.0.2) of the line connections the kill must fail. */
    let lost: number[] = [];
    let heldLine = 0;
    // Freeze the worker, retrying (every 5 ms, at most 100 times) until it is caught holding
    // line connections; the load runs on meanwhile.
    let held: TcpRow[] = [];
    await waitUntil('the frozen worker to hold line connections', () => {
      attempts++;
      process.kill(victim, 'SIGSTOP');
      held = connectionsHeld(victim, B.line);
      if (held.length > 0 || attempts >= 100) return true;
      process.kill(victim, 'SIGCONT');
      return false;
    }, 60_000, 5);
    // Nothing moves on the frozen worker's side: once everything it wrote is acknowledged and
    // haproxy's ends of these connections have nothing unread, haproxy's counts are final.
    const peers = new Set(held.map((r) => r.remotePort));
    await waitUntil('haproxy has read what the frozen worker wrote', () => {
      const rows = tcpRows();
      const haproxySide = rows.filter((r) => peers.has(r.localPort) && r.remotePort === B.line);
      const workerSide = rows.filter((r) => r.localPort === B.line && peers.has(r.remotePort));
      return haproxySide.every((r) => r.rxQueue === 0) && workerSide.every((r) => r.txQueue === 0);
    });
    const sessions = (await haproxy.sessions()).filter((x) => x.backend === 'raas_line');
    for (const row of held) {
      const stream = sessions.find((x) => x.backendAddr === `127.0.0.1:${row.remotePort}`);
      // No stream: a health check, or a stream haproxy has already finished (its client has
      // its reply); neither is a client the kill can fail.
      if (stream === undefined || stream.responseBytes > 0) continue;
      assert.ok(stream.source.startsWith(`${CLIENT_ADDRESS}:`), stream.source);
      lost.push(Number(stream.source.split(':').at(-1)));
    }
    heldLine = held.length;
    httpCut = connectionsHeld(victim, B.http).length;
    process.kill(victim, 'SIGKILL');
    lost = lost.sort((x, y) => x - y);
    await waitUntil('the killed worker gone', () => !isAlive(victim));
    await b.waitFor('a replacement worker ready', () => readyWorkersOf(b, newB).length === 2 && !readyWorkersOf(b, newB).includes(victim), 20_000);
    await steady('after the SIGKILL');

    const report = await load.stop();
    const stats = await haproxy.stats();
    const backend = (name: string) => stats.find((r) => r.pxname === name && r.svname === 'BACKEND')!;
    const retries = { http_retried: Number(backend('raas_http').wretr), http_redispatched: Number(backend('raas_http').wredis), line_retried: Number(backend('raas_line').wretr) };
    t.diagnostic(`replies: ${JSON.stringify(report.ok)}; failures: ${JSON.stringify(report.failures)}`);
    t.diagnostic(
      `graceful stop of A: /healthz 503 after ${healthz503Ms} ms, haproxy marked A down (both backends) after ${downMs} ms, ` +
        `lame duck ${lameMs} ms, A exited after ${stoppedMs} ms, back in rotation ${backMs} ms after TERM`,
    );
    t.diagnostic(
      `SIGKILL: ${attempts} attempt(s) to find an instant with line connections; line connections held: ${heldLine}, ` +
        `of which unanswered (lost): ${lost.length}; HTTP connections cut: ${httpCut}`,
    );
    t.diagnostic(`steps (ms since load start): ${JSON.stringify(steps)}; line failures: ${JSON.stringify(report.lineFailures)}`);
    t.diagnostic(`haproxy retries: ${JSON.stringify(retries)}`);

    // Zero client errors, but for the line connections the SIGKILL cut: exactly those, no more.
    const { line: lineFailed, ...httpFailed } = report.failed;
    assert.deepEqual(httpFailed, { keepAlive: 0, close: 0 }, report.samples.join('\n'));
    assert.equal(report.clientRetries, 0);
    assert.deepEqual(
      report.lineFailures.map((f) => f.port).sort((x, y) => x - y),
      lost,
      `line failures ${JSON.stringify(report.lineFailures)} (steps ${JSON.stringify(steps)}) are not exactly the ${lost.length} the SIGKILL cut\n${report.samples.join('\n')}`,
    );
    assert.ok(report.lineFailures.every((f) => f.atMs >= steps.at(-1)![1]), 'no line failure before the SIGKILL');
    assert.equal(lineFailed, lost.length);
    assert.ok(report.ok.keepAlive > 0 && report.ok.close > 0 && report.ok.line > 0);

    // The backends saw the clients, not haproxy: every client request in both access logs, and
    // every relayed line connection, names 127.0.0.2.
    const readAccess = (): string[] => [A.accessLog, B.accessLog].flatMap((f) => fs.readFileSync(f, 'utf8').split('\n').filter(Boolean));
    // A line is written once the response has closed, a moment after the client has it; the
    // killed worker may have answered a request and died before writing its line.
    const httpReplies = report.ok.keepAlive + report.ok.close;
    await waitUntil(`${httpReplies} access lines`, () => readAccess().filter((l) => l.includes('/reverse?s=')).length >= httpReplies - httpCut, 10_000);
    const accessLines = readAccess();
    const clientLines = accessLines.filter((l) => l.includes('/reverse?s='));
    assert.deepEqual([...new Set(clientLines.map((l) => l.split(' ')[0]))], [CLIENT_ADDRESS]);
    const healthLines = accessLines.filter((l) => l.includes('/healthz'));
    assert.ok(healthLines.length > 0 && healthLines.every((l) => l.startsWith('127.0.0.1 ')), 'checks come from haproxy itself (LOCAL)');
    const lineHeaders = all.flatMap((r) => r.entries).filter((e) => e.event === LOG.PROXY_HEADER && e.listen?.startsWith('line+proxy://') && e.command === 'proxy');
    assert.ok(lineHeaders.length >= report.ok.line, `${lineHeaders.length} relayed line connections logged for ${report.ok.line} replies`);
    assert.deepEqual([...new Set(lineHeaders.map((e) => e.client))], [CLIENT_ADDRESS]);
    assert.deepEqual([...new Set(lineHeaders.map((e) => e.proxy))], ['127.0.0.1']);

    for (const raas of all) {
      assert.deepEqual(raas.entries.filter((e) => e.event === LOG.PROXY_REFUSED), [], 'haproxy\'s headers are all accepted');
      // The SIGKILL is the only error either instance may log (the master reports the death).
      const errors = raas.errorLines().filter((l) => !(l.includes(`event=${LOG.WORKER_EXIT}`) && l.includes(`worker_pid=${victim} `)));
      assert.deepEqual(errors, []);
    }
    await haproxy.stop();
    process.kill(newB, 'SIGQUIT');
    a.signal('SIGQUIT');
    await waitMasterStopped(b, newB, 30_000);
    assert.equal((await a.waitExit(30_000)).code, 0);
  });

  it('examples/haproxy.cfg is valid and carries what the recipe promises', async () => {
    const text = fs.readFileSync(HAPROXY_CFG, 'utf8');
    for (const needed of [/send-proxy-v2/, /option httpchk GET \/healthz/, /option tcp-check/, /tcp-check expect string ping/, /check check-send-proxy/, /retries 3/, /option redispatch/, /retry-on /]) {
      assert.match(text, needed);
    }
    assert.doesNotMatch(text.replace(/#.*$/gm, ''), /shutdown-sessions/, 'marking a lame duck down must not cut its sessions');
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync('haproxy', ['-c', '-f', HAPROXY_CFG], { encoding: 'utf8', env: { ...process.env, HAPROXY_STATS_SOCKET: path.join(tmpDir(), 's.sock') } });
    assert.match(out, /Configuration file is valid/);
  });
});
