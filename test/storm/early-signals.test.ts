// Integration: a master signalled from its first milliseconds. USR1 and HUP sent over and over
// while it is still loading its config (a slow .mjs) must neither start Node's inspector nor kill
// it; the HUPs are queued and handled once the loop runs (several coalesce into one reload).
// Runs in: the test runner process; drives real processes and signals.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { LOG } from '../../src/log.js';
import { lineRequest, targetOf } from '../helpers/clients.js';
import { reapAll, startRaas, tmpDir, waitUntil } from '../helpers/raas.js';

after(reapAll);

const CLEAN_ENV = { RAAS_WORKERS: '', WEB_CONCURRENCY: '', RAAS_LISTEN: '', RAAS_LOG_FILE: '', RAAS_APP: '' };

/**
 * The process has a handler for SIGHUP (bit 0 of SigCgt in /proc/PID/status): its JS runs, and
 * the USR1 listener (installed just before) is in place.
 */
function catchesHup(pid: number): boolean {
  try {
    const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^SigCgt:\s*([0-9a-f]+)/m);
    return line !== null && (BigInt(`0x${line[1]}`) & 1n) === 1n;
  } catch {
    return false;
  }
}

/** A FIFO in `dir`: a config module that reads it waits, without a timer, until the test opens it. */
function fifo(dir: string): string {
  const file = path.join(dir, `gate-${Math.random().toString(36).slice(2)}`);
  execFileSync('mkfifo', [file]);
  return file;
}

/**
 * Opens the gate for good: later loads (a reload) see `.open` and do not wait; the reader waiting
 * on the FIFO gets an empty read. A reader that has checked `.open` but not yet opened the FIFO
 * makes the open fail (ENXIO): try again until it is there (a poll, bounded).
 */
async function open(gate: string): Promise<void> {
  fs.writeFileSync(`${gate}.open`, '');
  for (const deadline = Date.now() + 5_000; Date.now() < deadline; await new Promise((r) => setImmediate(r))) {
    try {
      return fs.closeSync(fs.openSync(gate, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENXIO') throw err;
    }
  }
}

/** TCP ports this process listens on (its socket inodes matched against /proc/net/tcp{,6}). */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = fs.readlinkSync(`/proc/${pid}/fd/${fd}`).match(/^socket:\[(\d+)\]$/);
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of fs.readFileSync(table, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] === '0A' && inodes.has(cols[9] ?? '')) ports.push(parseInt(cols[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}

describe('signals from the first moment', () => {
  it('USR1 and HUP during boot: no inspector, no death; the queued HUP is a reload once the loop runs', async () => {
    const dir = tmpDir('raas-early-');
    const marker = path.join(dir, 'config-loading');
    const gate = fifo(dir);
    const config = path.join(dir, 'raas.mjs');
    // The config loads until the test opens the gate: a wide window between the first line of JS and the loop.
    fs.writeFileSync(
      config,
      `import * as fs from 'node:fs';\n` +
        `fs.writeFileSync(${JSON.stringify(marker)}, '');\n` +
        `if (!fs.existsSync(${JSON.stringify(gate + '.open')})) await fs.promises.readFile(${JSON.stringify(gate)});\n` +
        `export default { listen: ['127.0.0.1:0'], workers: 1 };\n`,
    );
    const raas = await startRaas({ args: ['-c', config], env: CLEAN_ENV, waitReady: false });
    const pid = raas.pid;

    // From spawn on: wait for the first sign of JS (a HUP handler, or the config starting to
    // load), then signal without pause until the master's loop says it handled a signal.
    let sent = 0;
    const loopRuns = () => raas.events(LOG.SIGNAL, 'master').length > 0 || raas.events(LOG.READY, 'master').length > 0;
    const deadline = Date.now() + 30_000;
    while (!catchesHup(pid) && !fs.existsSync(marker)) {
      assert.ok(raas.alive && Date.now() < deadline, `the master never started its JS: ${raas.lines.join('\n')}`);
      await new Promise((r) => setImmediate(r));
    }
    const hupCaughtFirst = catchesHup(pid);
    // The storm, a round every 5 ms (signals sent at once may coalesce into one), until the loop runs.
    await waitUntil('the master loop to handle a signal', async () => {
      if (loopRuns() || !raas.alive) return true;
      process.kill(pid, 'SIGUSR1');
      process.kill(pid, 'SIGHUP');
      sent += 1;
      // 40 rounds while the config loads, then the gate opens and the storm goes on until the loop runs.
      if (sent === 40) await open(gate);
      return false;
    }, Math.max(0, deadline - Date.now()), 5);
    assert.ok(raas.alive, `the master died of an early signal: ${raas.lines.slice(-10).join('\n')}`);
    assert.ok(hupCaughtFirst, 'the HUP handler is in place before the config starts loading');
    assert.ok(sent >= 20, `only ${sent} rounds of signals were sent during boot`);

    const [tcp] = await raas.ready();
    assert.equal(await lineRequest(targetOf(tcp!), 'early\n'), 'ylrae\n');
    await raas.waitForEvent(LOG.RELOAD_DONE, { role: 'master' });
    assert.equal(await lineRequest(targetOf(tcp!), 'after\n'), 'retfa\n');
    // No inspector: Node announces it on stderr, and it would listen on a TCP port of the master.
    assert.deepEqual(raas.lines.filter((l) => /Debugger listening|Starting inspector/.test(l)), []);
    // The only socket of the master in LISTEN state is the one it binds for its workers.
    assert.deepEqual(listeningPorts(pid), [(targetOf(tcp!) as { port: number }).port]);
    assert.ok(raas.alive);

    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit(30_000)).code, 0);
  });

  it('a TERM during boot is a graceful stop once the loop runs; a second one ends a boot that never finishes', async () => {
    const dir = tmpDir('raas-early-');
    const marker = path.join(dir, 'config-loading');
    const slow = path.join(dir, 'slow.mjs');
    const body = (wait: string) =>
      `import * as fs from 'node:fs';\nfs.writeFileSync(${JSON.stringify(marker)}, '');\nawait ${wait};\n` +
      `export default { listen: ['127.0.0.1:0'], workers: 1 };\n`;
    // The config loads until the TERM has come: a listener of its own, after the master's (which
    // the marker says are in place), so the master has seen the TERM before the loop can run. The
    // interval only keeps the process alive meanwhile (a signal listener does not).
    fs.writeFileSync(slow, body("new Promise((r) => { const alive = setInterval(() => {}, 60_000); process.once('SIGTERM', () => { clearInterval(alive); r(); }); })"));
    const once = await startRaas({ args: ['-c', slow], env: CLEAN_ENV, waitReady: false });
    await waitUntil('the config is loading', () => fs.existsSync(marker));
    once.signal('SIGTERM');
    assert.equal((await once.waitExit(20_000)).code, 0);
    assert.equal(once.events(LOG.SIGNAL, 'master')[0]?.signal, 'SIGTERM');
    assert.deepEqual(once.events(LOG.WORKER_SPAWN), [], 'stopped before any worker was started');

    fs.rmSync(marker);
    const never = path.join(dir, 'never.mjs');
    // A live timer: a bare never-settling promise would just end the process (exit 13).
    fs.writeFileSync(never, body('new Promise(() => setInterval(() => {}, 1000))'));
    const hung = await startRaas({ args: ['-c', never], env: CLEAN_ENV, waitReady: false });
    await waitUntil('the config is loading', () => fs.existsSync(marker));
    hung.signal('SIGTERM');
    // time is tested: the process must still be there 300 ms after one TERM (it is queued for a
    // loop that has not started); a death that must NOT come has no event to wait for.
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(hung.alive, 'one TERM is queued for the loop that has not started');
    // Two signals sent at once may reach the process as one: repeat (polling its exit) until it is gone.
    await waitUntil('a second TERM to end the boot', () => {
      if (!hung.alive) return true;
      hung.signal('SIGTERM');
      return false;
    }, 5000, 100);
    assert.deepEqual(await hung.waitExit(10_000), { code: 128 + 15, signal: null });
  });

  it('a control command and --help still obey signals and exit as usual', async () => {
    const raas = await startRaas({ args: ['--help'], waitReady: false });
    assert.equal((await raas.waitExit()).code, 0);
    assert.ok(raas.lines.some((l) => l.includes('--worker') || l.includes('--listen')));
  });
});
