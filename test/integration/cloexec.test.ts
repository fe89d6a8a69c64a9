// Integration: a worker's listening sockets are close-on-exec, so a subprocess its app starts
// does not keep the port bound after RAAS exits.
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { isCloexec } from '../../src/worker/cloexec.js';
import { isAlive, reapAll, startRaas, tmpDir, waitUntil } from '../helpers/raas.js';

const fixture = (name: string): string => fileURLToPath(new URL(`../../../test/fixtures/${name}`, import.meta.url));
const CLEAN_ENV = { RAAS_WORKERS: '', WEB_CONCURRENCY: '', RAAS_LISTEN: '', RAAS_LOG_FILE: '', RAAS_APP: '' };
const children: number[] = [];
after(async () => {
  for (const pid of children) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  await reapAll();
});

function socketInodes(pid: number): string[] {
  const out: string[] = [];
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) out.push(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

function bindOnce(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
  });
}

describe('close-on-exec listeners', () => {
  it('a subprocess the app started keeps no listener: the port is free once RAAS has exited', async () => {
    const dir = tmpDir();
    const raas = await startRaas({
      args: ['--listen', 'http://127.0.0.1:0', '--listen', '127.0.0.1:0', '-w', '1', '--app', fixture('spawn-child-app.mjs')],
      env: { ...CLEAN_ENV, RAAS_TEST_CHILD_DIR: dir },
    });
    const bound = await raas.ready();
    const worker = [...raas.readyWorkers().values()][0]!;
    const pidFile = path.join(dir, `child-${worker}.pid`);
    await waitUntil('the app started its subprocess', () => fs.existsSync(pidFile));
    const child = Number(fs.readFileSync(pidFile, 'utf8'));
    children.push(child);

    // The worker's listener fds (4, 5) and IPC channel (3) are close-on-exec...
    for (const fd of [3, 4, 5]) assert.equal(isCloexec(fd, worker), true, `worker fd ${fd}`);
    // ...so the subprocess holds none of the worker's sockets.
    const workerSockets = new Set(socketInodes(worker));
    assert.deepEqual(socketInodes(child).filter((i) => workerSockets.has(i)), []);
    assert.equal(raas.events('fds-inheritable').length, 0);

    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
    assert.equal(isAlive(child), true, 'the subprocess outlives RAAS');
    for (const address of bound) {
      const port = Number(address.slice(address.lastIndexOf(':') + 1));
      await bindOnce(port); // EADDRINUSE if the subprocess had kept the socket
    }
    process.kill(child, 'SIGKILL');
    await waitUntil('the subprocess reaped', () => !isAlive(child));
  });
});
