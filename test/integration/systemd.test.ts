// Integration: systemd socket activation. systemd-socket-activate binds the sockets, waits for a
// first connection, then execs RAAS with LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES: RAAS serves on the
// inherited fds (named line and http), binds nothing of its own, and QUIT still exits 0.
// Then examples/raas.service as written: its ExecStart (a project-local node_modules/.bin/raas,
// in its WorkingDirectory) on the sockets of examples/raas.socket and raas-http.socket, and its
// ExecReload (`raas reload`), which returns only once the reload is done (exit 0) or refused
// (exit non-zero, with the reason), as systemd expects of a synchronous reload command.
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { LOG } from '../../src/log.js';
import { LineLoad, lineRequest } from '../helpers/clients.js';
import { freePort } from '../helpers/masters.js';
import { EXIT } from '../../src/exit-codes.js';
import { isAlive, reapAll, REPO_ROOT, startRaas, tmpDir, waitUntil } from '../helpers/raas.js';

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

  it('examples/raas.service as written: a project-local install, and ExecReload waits for the outcome', async () => {
    const unit = unitFile('raas.service');
    const sockets = ['raas.socket', 'raas-http.socket'].map(unitFile);
    // The unit's paths, and where they are in this test.
    const root = tmpDir('raas-unit-');
    const appDir = path.join(root, 'app');
    const config = path.join(root, 'raas.json');
    const pidFile = path.join(root, 'raas.pid');
    const workingDirectory = unit.get('WorkingDirectory')!;
    const substitute = (line: string): string[] =>
      line.replaceAll(workingDirectory, appDir).replaceAll('/etc/raas/raas.json', config).replaceAll('/run/raas/raas.pid', pidFile).split(/\s+/);
    const execStart = substitute(unit.get('ExecStart')!);
    const execReload = substitute(unit.get('ExecReload')!);
    // A project-local install: what `npm install raas` leaves in the app's directory.
    assert.equal(execStart[0], path.join(appDir, 'node_modules', '.bin', 'raas'), 'ExecStart runs the app\'s own node_modules/.bin/raas');
    assert.equal(execReload[0], execStart[0]);
    assert.deepEqual(execReload.slice(1, 2), ['reload'], 'ExecReload is `raas reload`, not a bare kill -HUP');
    assert.match(unit.get('Environment') ?? '', /^PATH=/m, 'node must be on the PATH bin/raas execs it from');
    fs.mkdirSync(path.join(appDir, 'node_modules', '.bin'), { recursive: true });
    fs.symlinkSync(REPO_ROOT, path.join(appDir, 'node_modules', 'raas'));
    fs.symlinkSync('../raas/bin/raas', path.join(appDir, 'node_modules', '.bin', 'raas'));
    fs.writeFileSync(config, JSON.stringify({ workers: 2 }));

    const ports = [await freePort(), await freePort()];
    const names = sockets.map((u) => u.get('FileDescriptorName')!);
    assert.deepEqual(names, ['line', 'http']);
    for (const u of sockets) assert.match(u.get('ListenStream')!, /^127\.0\.0\.1:\d+$/);
    const raas = await startRaas({
      wrapper: [ACTIVATE, ...ports.flatMap((p) => ['-l', `127.0.0.1:${p}`]), `--fdname=${names.join(':')}`],
      command: [execStart[0]!],
      args: execStart.slice(1),
      cwd: appDir,
      env: { NODE_ENV: 'production' },
      waitReady: false,
    });
    await raas.waitFor('activator listening', () => raas.lines.some((l) => l.includes(`127.0.0.1:${ports[1]}`) && /listening/i.test(l)));
    assert.equal(await lineRequest({ host: '127.0.0.1', port: ports[0]! }, 'unit\n'), 'tinu\n');
    assert.deepEqual(await raas.ready(), ['line://systemd-fd-3', 'http://systemd-fd-4']);
    // sh execs node, which kept the pid systemd would call MAINPID, and named it in the pid file.
    assert.equal(Number(fs.readFileSync(pidFile, 'utf8').trim()), raas.pid);

    const reload = async (): Promise<{ code: number; stdout: string; stderr: string }> =>
      new Promise((resolve) => {
        execFile(execReload[0]!, execReload.slice(1), { cwd: appDir, timeout: 60_000 }, (err, stdout, stderr) =>
          resolve({ code: err ? Number((err as NodeJS.ErrnoException & { code?: unknown }).code) : 0, stdout, stderr }),
        );
      });
    const done = await reload();
    assert.deepEqual([done.code, done.stdout.trim()], [0, `reloaded: master ${raas.pid} serves generation 2`], done.stderr);
    // It returned after the outcome, not after the signal: the master had logged it already.
    assert.equal(raas.events(LOG.RELOAD_DONE, 'master').length, 1);

    fs.writeFileSync(config, JSON.stringify({ workers: 'many' }));
    const refused = await reload();
    assert.equal(refused.code, EXIT.CONTROL_FAILED, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /reload refused: .*workers/);
    assert.equal((await httpGet(ports[1]!, '/healthz')).status, 200, 'the old workers keep serving');

    raas.signal('SIGQUIT');
    assert.deepEqual(await raas.waitExit(), { code: 0, signal: null });
  });
});

/** The keys of a unit file's sections (a key given twice, as Environment= may be: its values, a line each). */
function unitFile(name: string): Map<string, string> {
  const keys = new Map<string, string>();
  for (const line of fs.readFileSync(path.join(REPO_ROOT, 'examples', name), 'utf8').split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) keys.set(m[1]!, keys.has(m[1]!) ? `${keys.get(m[1]!)}\n${m[2]!}` : m[2]!);
  }
  return keys;
}
