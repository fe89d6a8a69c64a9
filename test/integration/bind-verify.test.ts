// Integration: an address something else already serves is refused, never "served" on a random
// port of every interface (libuv defers EADDRINUSE to listen(2), which then auto-binds); and a
// worker listens only on the socket the master bound, as the master bound it.
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { EXIT } from '../../src/exit-codes.js';
import { WORKER_CONFIG_ENV, type WorkerBootConfig } from '../../src/ipc.js';
import { LOG } from '../../src/log.js';
import { lineRequest, targetOf } from '../helpers/clients.js';
import { listeningAddressOf, listeningSockets, ownSocketInode } from '../helpers/proc-sockets.js';
import { resolveSettings } from '../helpers/worker-boot.js';
import { CLI, REPO_ROOT, isAlive, reapAll, startRaas, tmpDir, waitUntil } from '../helpers/raas.js';

after(reapAll);

const CLEAN_ENV = { RAAS_WORKERS: '', WEB_CONCURRENCY: '', RAAS_LISTEN: '', RAAS_LOG_FILE: '', RAAS_APP: '' };
const WORKER_MAIN = path.join(REPO_ROOT, 'dist', 'src', 'worker', 'main.js');

/** Something else serving on a loopback port (the test runner itself). */
function occupy(host: string): Promise<{ server: net.Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((s) => s.end('occupied\n'));
    server.once('error', reject);
    server.listen(0, host, () => resolve({ server, port: (server.address() as net.AddressInfo).port }));
  });
}

function control(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('bind verification', () => {
  for (const host of ['127.0.0.1', '::1']) {
    it(`refuses to start on a busy ${host} port: exit ${EXIT.BIND}, the address named, nothing served`, async () => {
      const { server, port } = await occupy(host);
      try {
        const shown = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
        const raas = await startRaas({ args: ['--listen', shown, '-w', '2'], env: CLEAN_ENV, waitReady: false });
        const pids = new Set<number>([raas.pid]);
        // Sample what our processes listen on, at every poll, until the master exits.
        const seen: string[] = [];
        await waitUntil('the master to exit on a busy port', () => {
          for (const e of raas.events(LOG.WORKER_SPAWN)) pids.add(Number(e.worker_pid));
          for (const s of listeningSockets([...pids])) seen.push(s.address);
          return !raas.alive;
        }, 15_000).catch(() => undefined); // still running: the assertion below says so, with what it served
        const served = raas.alive;
        raas.kill();
        const { code } = await raas.exited;
        assert.equal(served, false, `still running after 15 s, listening on ${seen.join(' ')}; log:\n${raas.lines.join('\n')}`);
        assert.equal(code, EXIT.BIND, raas.lines.join('\n'));
        const error = raas.events(LOG.BIND_ERROR)[0];
        assert.ok(error, raas.lines.join('\n'));
        assert.ok(error.error!.includes(shown), `the error should name ${shown}: ${error.error}`);
        assert.match(error.error!, /EADDRINUSE/);
        assert.equal(raas.events(LOG.READY).length, 0);
        assert.equal(raas.events(LOG.WORKER_SPAWN).length, 0);
        assert.deepEqual(seen, []);
      } finally {
        server.close();
      }
    });
  }

  it('refuses a reload that adds a busy address; `raas reload` fails; the old listener serves on', async () => {
    const dir = tmpDir();
    const config = path.join(dir, 'raas.json');
    const pid = path.join(dir, 'raas.pid');
    fs.writeFileSync(config, JSON.stringify({ listen: ['127.0.0.1:0'], workers: 2, pid }));
    const raas = await startRaas({ args: ['-c', config], env: CLEAN_ENV });
    const [tcp] = await raas.ready();
    const workers = raas.liveWorkerPids();
    const { server, port } = await occupy('127.0.0.1');
    try {
      const mark = raas.entries.length;
      fs.writeFileSync(config, JSON.stringify({ listen: [tcp, `127.0.0.1:${port}`], workers: 2, pid }));
      const reload = await control(['reload', '-c', config]);
      assert.notEqual(reload.code, 0, reload.stdout);
      assert.match(reload.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`));
      const refused = await raas.waitForEvent(LOG.RELOAD_REFUSED, {}, { after: mark });
      assert.match(refused.error!, /EADDRINUSE/);
      assert.equal(raas.entries.slice(mark).filter((e) => e.event === LOG.WORKER_SPAWN).length, 0);
      for (const p of workers) assert.equal(isAlive(p), true);
      // Only the one listener, on loopback, from any of our processes.
      const sockets = listeningSockets([raas.pid, ...raas.liveWorkerPids()]);
      assert.ok(sockets.length > 0);
      for (const s of sockets) assert.equal(`line://${s.address}`, tcp, JSON.stringify(sockets));
      assert.equal(await lineRequest(targetOf(tcp!), 'abc\n'), 'cba\n');
    } finally {
      server.close();
    }
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });
});

describe('a worker checks the socket it inherits', () => {
  /** Runs the worker entry point directly with one inherited fd and a claimed address. */
  async function bootWorker(fd: number, claimed: WorkerBootConfig['listeners'][number]) {
    const config: WorkerBootConfig = {
      slot: 0,
      generation: 1,
      masterPid: process.pid,
      heartbeatMs: 1000,
      listeners: [{ ...claimed, fd: 4 }],
      settings: await resolveSettings(),
    };
    const child = spawn(process.execPath, [WORKER_MAIN], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc', fd],
      env: { ...process.env, ...CLEAN_ENV, [WORKER_CONFIG_ENV]: JSON.stringify(config) },
    });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    let ready = false;
    child.on('message', (m: { type?: string }) => {
      if (m.type === 'ready') ready = true;
    });
    // Whether the inherited socket ever listens, asked of the socket itself (by its inode, which
    // the test runner shares): reading the child's /proc fd table instead once saw a LISTEN
    // socket that was not the worker's (CI run 12, Node 26; the worker made no listen(2) call).
    const inode = ownSocketInode(fd);
    const sockets: string[] = [];
    const sampler = setInterval(() => {
      const address = listeningAddressOf(inode);
      if (address !== null) sockets.push(address);
    }, 5);
    // A worker that accepted the socket would serve forever: give it 10 s, then kill it.
    const deadline = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    clearTimeout(deadline);
    clearInterval(sampler);
    return { code, output, ready, sockets };
  }

  type RawHandle = { fd: number; close(): void };
  const createServerHandle = (net as unknown as { _createServerHandle: (a: string, p: number, t: number) => RawHandle | number })
    ._createServerHandle;

  it('refuses an fd whose bind failed (no listen on a random port)', async () => {
    const { server, port } = await occupy('127.0.0.1');
    const handle = createServerHandle('127.0.0.1', port, 4) as RawHandle;
    try {
      assert.equal(typeof handle, 'object');
      const result = await bootWorker(handle.fd, { fd: 4, protocol: 'line', address: `line://127.0.0.1:${port}`, host: '127.0.0.1', port, family: 4 });
      assert.equal(result.code, EXIT.WORKER_BOOT_ERROR, result.output);
      assert.match(result.output, new RegExp(`127\\.0\\.0\\.1:${port}`));
      assert.equal(result.ready, false);
      assert.deepEqual(result.sockets, []);
    } finally {
      handle.close();
      server.close();
    }
  });

  it('refuses an fd bound elsewhere than the master says (TCP v4, v6, Unix)', async () => {
    const dir = tmpDir();
    const cases: Array<{ bind: () => RawHandle; claimed: WorkerBootConfig['listeners'][number] }> = [
      { bind: () => createServerHandle('127.0.0.1', 0, 4) as RawHandle, claimed: { fd: 4, protocol: 'line', address: 'line://127.0.0.2:1', host: '127.0.0.2', port: 1, family: 4 } },
      { bind: () => createServerHandle('::1', 0, 6) as RawHandle, claimed: { fd: 4, protocol: 'line', address: 'line://[::1]:1', host: '::1', port: 1, family: 6 } },
      { bind: () => createServerHandle(path.join(dir, 'a.sock'), -1, -1) as RawHandle, claimed: { fd: 4, protocol: 'line', address: `unix:${path.join(dir, 'b.sock')}`, path: path.join(dir, 'b.sock') } },
    ];
    for (const { bind, claimed } of cases) {
      const handle = bind();
      try {
        const result = await bootWorker(handle.fd, claimed);
        assert.equal(result.code, EXIT.WORKER_BOOT_ERROR, `${claimed.address}: ${result.output}`);
        assert.ok(result.output.includes(claimed.address), result.output);
        assert.deepEqual(result.sockets, []);
      } finally {
        handle.close();
      }
    }
  });

  it('listens on an fd bound as claimed (TCP v4, v6, Unix)', async () => {
    const dir = tmpDir();
    const unix = path.join(dir, 'ok.sock');
    const cases: Array<() => { handle: RawHandle; claimed: WorkerBootConfig['listeners'][number] }> = [
      () => {
        const handle = createServerHandle('127.0.0.1', 0, 4) as RawHandle & { getsockname(o: Record<string, unknown>): number };
        const out: Record<string, unknown> = {};
        handle.getsockname(out);
        return { handle, claimed: { fd: 4, protocol: 'line', address: `line://127.0.0.1:${out.port}`, host: '127.0.0.1', port: Number(out.port), family: 4 } };
      },
      () => {
        const handle = createServerHandle('::1', 0, 6) as RawHandle & { getsockname(o: Record<string, unknown>): number };
        const out: Record<string, unknown> = {};
        handle.getsockname(out);
        return { handle, claimed: { fd: 4, protocol: 'line', address: `line://[::1]:${out.port}`, host: '::1', port: Number(out.port), family: 6 } };
      },
      () => ({ handle: createServerHandle(unix, -1, -1) as RawHandle, claimed: { fd: 4, protocol: 'line', address: `unix:${unix}`, path: unix } }),
    ];
    for (const make of cases) {
      const { handle, claimed } = make();
      try {
        const child = spawnWorkerAndWaitReady(handle.fd, claimed);
        const { ready, pid, stop } = await child;
        assert.equal(ready, true, claimed.address);
        const sockets = listeningSockets([pid]);
        assert.equal(sockets.length, 1, JSON.stringify(sockets));
        const expected = claimed.path !== undefined ? `unix:${claimed.path}` : claimed.address.replace('line://', '');
        assert.equal(sockets[0]!.address, expected);
        await stop();
      } finally {
        handle.close();
      }
    }

    async function spawnWorkerAndWaitReady(fd: number, claimed: WorkerBootConfig['listeners'][number]) {
      const config: WorkerBootConfig = { slot: 0, generation: 1, masterPid: process.pid, heartbeatMs: 1000, listeners: [claimed], settings: await resolveSettings() };
      const child = spawn(process.execPath, [WORKER_MAIN], {
        stdio: ['ignore', 'ignore', 'pipe', 'ipc', fd],
        env: { ...process.env, ...CLEAN_ENV, [WORKER_CONFIG_ENV]: JSON.stringify(config) },
      });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
      const ready = await new Promise<boolean>((resolve) => {
        child.on('message', (m: { type?: string }) => m.type === 'ready' && resolve(true));
        child.on('exit', () => resolve(false));
      });
      assert.equal(ready, true, stderr);
      return {
        ready,
        pid: child.pid!,
        stop: async () => {
          child.kill('SIGQUIT');
          await exited;
        },
      };
    }
  });
});
