// Integration: before killing a worker whose event loop is blocked, the master asks it where it is
// stuck; the kill's log line names the JavaScript function and the report file written.
// Runs in: the test runner process; drives a real master, a real blocked worker and real sockets.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { LOG } from '../../src/log.js';
import { isAlive, REPO_ROOT, reapAll, startRaas, tmpDir, waitUntil } from '../helpers/raas.js';

after(reapAll);

const APP = path.join(REPO_ROOT, 'test', 'fixtures', 'stuck-app.mjs');

/** The process state letter of /proc/PID/stat (after the title, which may hold spaces). */
function procState(pid: number): string {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

/** Sends a request that makes the worker spin forever; the connection is left to die with it. */
function startSpinning(bound: string): net.Socket {
  const { hostname, port } = new URL(bound);
  const socket = net.connect(Number(port), hostname);
  socket.on('error', () => {});
  socket.write('GET /spin HTTP/1.1\r\nHost: x\r\n\r\n');
  return socket;
}

describe('stuck-worker reports', () => {
  it('names the function a blocked worker spins in, and where the full report is', async () => {
    const dir = tmpDir();
    const raas = await startRaas({
      args: ['--listen', 'http://127.0.0.1:0', '-w', '1', '--timeout', '2', '--app', APP, '--report-dir', dir],
    });
    const [http] = await raas.ready();
    const victim = raas.readyWorkers().get(0)!;
    const client = startSpinning(http!);
    const killed = await raas.waitForEvent(LOG.WORKER_TIMEOUT, { worker_pid: String(victim) }, { timeoutMs: 20_000 });
    client.destroy();
    assert.match(killed.stack ?? '', /^spinInNamedLoop /, `stack=${killed.stack}`);
    assert.ok(killed.report?.startsWith(dir + path.sep), `report=${killed.report}`);
    const report = JSON.parse(fs.readFileSync(killed.report!, 'utf8')) as { header: { processId: number } };
    assert.equal(report.header.processId, victim);
    const exit = await raas.waitForEvent(LOG.WORKER_EXIT, { worker_pid: String(victim) });
    assert.equal(exit.signal, 'SIGKILL');
    // The slot is served again.
    await raas.waitFor('a replacement', () => raas.readyWorkers().get(0) !== victim && raas.readyWorkers().get(0));
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });

  it('with --user nobody, the report goes to a room of that user inside report-dir, and the kill still names the function', async () => {
    const dir = tmpDir();
    fs.chmodSync(dir, 0o700);
    const raas = await startRaas({
      args: ['--listen', 'http://127.0.0.1:0', '-w', '1', '--timeout', '2', '--app', APP, '--report-dir', dir, '--user', 'nobody'],
    });
    const [http] = await raas.ready();
    const victim = raas.readyWorkers().get(0)!;
    const client = startSpinning(http!);
    const killed = await raas.waitForEvent(LOG.WORKER_TIMEOUT, { worker_pid: String(victim) }, { timeoutMs: 20_000 });
    client.destroy();
    assert.match(killed.stack ?? '', /^spinInNamedLoop /, `stack=${killed.stack}`);
    const nobody = Number(fs.readFileSync('/etc/passwd', 'utf8').match(/^nobody:[^:]*:(\d+):/m)![1]);
    const room = path.join(dir, `workers-${nobody}`);
    assert.equal(path.dirname(killed.report ?? ''), room, `report=${killed.report}`);
    const roomStat = fs.statSync(room);
    assert.deepEqual([roomStat.uid, roomStat.mode & 0o777], [nobody, 0o700]);
    assert.equal(fs.statSync(dir).mode & 0o777, 0o711, 'others may pass, never list or write');
    const file = fs.statSync(killed.report!);
    assert.deepEqual([file.uid, file.mode & 0o777], [nobody, 0o600]);
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });

  it('a blocked worker whose master was SIGKILLed is ended by its watchdog, not left spinning', async () => {
    const raas = await startRaas({ args: ['--listen', 'http://127.0.0.1:0', '-w', '1', '--timeout', '30', '--app', APP] });
    const [http] = await raas.ready();
    const victim = raas.readyWorkers().get(0)!;
    const client = startSpinning(http!);
    // The worker spins (no beat can be read any more) once its request arrived: wait for that.
    await waitUntil('the worker to block', () => procState(victim) === 'R', 10_000);
    raas.child.kill('SIGKILL');
    await raas.waitExit();
    // Nobody is left to kill it but its own watchdog thread (5 s after the master's death).
    await waitUntil('the orphaned worker to be gone', () => !isAlive(victim), 20_000);
    client.destroy();
  });

  it('kills without waiting for a report when the watchdog is off', async () => {
    const raas = await startRaas({
      args: ['--listen', 'http://127.0.0.1:0', '-w', '1', '--timeout', '2', '--app', APP, '--worker-watchdog', 'off'],
    });
    const [http] = await raas.ready();
    const victim = raas.readyWorkers().get(0)!;
    const client = startSpinning(http!);
    const killed = await raas.waitForEvent(LOG.WORKER_TIMEOUT, { worker_pid: String(victim) }, { timeoutMs: 20_000 });
    client.destroy();
    assert.equal(killed.stack, undefined);
    assert.equal(killed.report, undefined);
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });

  it('refuses a report directory others can write, and still serves', async () => {
    const dir = tmpDir();
    fs.chmodSync(dir, 0o777);
    const raas = await startRaas({ args: ['--listen', '127.0.0.1:0', '-w', '1', '--report-dir', dir] });
    await raas.ready();
    const warning = raas.events(LOG.CONFIG_ERROR).find((e) => e.setting === 'report-dir');
    assert.match(warning?.error ?? '', /writable by others/);
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });
});
