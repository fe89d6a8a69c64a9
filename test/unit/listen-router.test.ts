// Tests of zero-code mode's listen() routing: Node's listen() signatures, which RAAS socket a
// listen() gets (port, port 0, Unix path), and the errors for a port RAAS does not have, a
// listener already taken, a line:// listener and export mode. Real sockets bound as the master does.
// Runs in: the test runner process (the patch is installed and removed around each test).

import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { parseListenAddress } from '../../src/config/listen-address.js';
import type { WorkerListener } from '../../src/ipc.js';
import { bindListener, closeListener, type BoundListener } from '../../src/master/listeners/listeners.js';
import { ListenRouter, parseListenArgs } from '../../src/protocols/http/listen-router.js';
import { tmpDir } from '../fixtures/http-helpers.js';

describe('parseListenArgs', () => {
  it('reads every signature of net.Server#listen', () => {
    const cb = (): void => {};
    assert.deepEqual(parseListenArgs([3000]), { kind: 'port', port: 3000 });
    assert.deepEqual(parseListenArgs(['3000', '0.0.0.0', cb]), { kind: 'port', port: 3000 });
    assert.deepEqual(parseListenArgs([undefined]), { kind: 'port', port: 0 });
    assert.deepEqual(parseListenArgs([]), { kind: 'port', port: 0 });
    assert.deepEqual(parseListenArgs([cb]), { kind: 'port', port: 0 });
    assert.deepEqual(parseListenArgs([{ port: 8080, host: '::' }]), { kind: 'port', port: 8080 });
    assert.deepEqual(parseListenArgs([{ port: undefined, host: 'localhost' }]), { kind: 'port', port: 0 });
    assert.deepEqual(parseListenArgs([{ host: 'localhost' }]), { kind: 'pass' }); // Node throws its own error
    assert.deepEqual(parseListenArgs(['/run/app.sock']), { kind: 'path', path: '/run/app.sock' });
    assert.deepEqual(parseListenArgs([{ path: 'app.sock' }]), { kind: 'path', path: 'app.sock' });
    assert.deepEqual(parseListenArgs([{ fd: 4 }, 1024, cb]), { kind: 'pass' });
    assert.deepEqual(parseListenArgs([{ _handle: {} }]), { kind: 'pass' });
    assert.deepEqual(parseListenArgs([70000]), { kind: 'pass' }); // Node's own ERR_SOCKET_BAD_PORT
  });
});

describe('ListenRouter', () => {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    for (const f of cleanups.splice(0).reverse()) f();
  });

  async function setup(specs: string[]): Promise<{ router: ListenRouter; bound: BoundListener[]; listeners: WorkerListener[] }> {
    const bound: BoundListener[] = [];
    for (const spec of specs) bound.push(await bindListener(parseListenAddress(spec)));
    cleanups.push(() => bound.forEach(closeListener));
    const listeners = bound.map((b) => ({ fd: b.fd, protocol: b.protocol, address: b.bound }));
    const router = new ListenRouter(listeners, 128, () => {});
    router.install();
    cleanups.push(() => router.uninstall());
    return { router, bound, listeners };
  }

  function serve(server: http.Server): http.Server {
    server.on('request', (req, res) => res.end('ok'));
    cleanups.push(() => server.close());
    return server;
  }

  const errorOf = (server: net.Server): Promise<NodeJS.ErrnoException> =>
    new Promise((resolve) => server.once('error', resolve));

  it('a listen() on the port of an http listener gets its socket; port 0 takes the next free one', async () => {
    const { router, listeners } = await setup(['http://127.0.0.1:0', 'http://127.0.0.1:0']);
    const port = (l: WorkerListener): number => Number(new URL(l.address).port);
    assert.equal(router.portEnv(), String(port(listeners[0]!)));

    const second = serve(http.createServer());
    await new Promise<void>((resolve) => second.listen(port(listeners[1]!), '0.0.0.0', resolve));
    assert.equal((second.address() as net.AddressInfo).port, port(listeners[1]!));
    assert.equal(await router.whenListening(listeners[1]!), second);

    const any = serve(http.createServer());
    await new Promise<void>((resolve) => any.listen(0, resolve));
    assert.equal((any.address() as net.AddressInfo).port, port(listeners[0]!));
    assert.equal(router.taken, 2);

    const reply = await fetch(`http://127.0.0.1:${port(listeners[0]!)}/`);
    assert.equal(await reply.text(), 'ok');

    const third = serve(http.createServer());
    third.listen(port(listeners[0]!));
    const taken = await errorOf(third);
    assert.equal(taken.code, 'EADDRINUSE');
    assert.match(taken.message, /already taken by another server of this worker/);
  });

  it('a port RAAS has no listener on, or a line:// listener, fails with a message naming --listen', async () => {
    const { listeners } = await setup(['http://127.0.0.1:0', '127.0.0.1:0']);
    const stray = serve(http.createServer());
    stray.listen(1);
    const err = await errorOf(stray);
    assert.equal(err.code, 'EADDRNOTAVAIL');
    assert.match(err.message, /^listen\(port 1\): RAAS has no http:\/\/ listener there \(it has: http:\/\/127\.0\.0\.1:\d+\); add one with --listen, e.g. --listen http:\/\/127\.0\.0\.1:1$/);

    const line = serve(http.createServer());
    line.listen(Number(new URL(listeners[1]!.address).port));
    assert.match((await errorOf(line)).message, /is a line:\/\/ listener of RAAS/);
  });

  it('a Unix path listener is taken by a listen() on its path; export mode refuses the app', async () => {
    const sock = path.join(tmpDir(), 'app.sock');
    const { router, listeners } = await setup([`http://unix:${sock}`]);
    assert.equal(router.portEnv(), sock);
    const server = serve(http.createServer());
    await new Promise<void>((resolve) => server.listen({ path: sock }, resolve));
    assert.equal(await router.whenListening(listeners[0]!), server);

    router.refuse('served by the default export');
    const late = serve(http.createServer());
    late.listen(0);
    assert.match((await errorOf(late)).message, /served by the default export/);
  });
});
