// Integration: the admin listener holds against a local attacker (issue 20). Idle connections,
// from one or many 127.x source addresses, never keep a scrape out; a trickled request dies at
// the documented 5 s; a foreign Host header (DNS rebinding) gets a 421; a unix: admin path follows
// --listen's stale-socket rule and socket-mode; a bind off loopback warns.
// Runs in: the test runner process; drives real masters, sockets and (for the warning) a private
// network namespace, so that nothing is ever bound off loopback on this machine.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { MAX_CONNECTIONS, MAX_PER_PEER, TIMEOUT_MS } from '../../src/admin/server.js';
import { LOG } from '../../src/log.js';
import { adminUrl } from '../helpers/admin.js';
import { reapAll, startRaas, tmpDir, waitUntil } from '../helpers/raas.js';

after(reapAll);

interface Reply {
  status: number;
  body: string;
}

/** One GET on a fresh connection, with the Host header we choose (fetch would not let us). */
function request(target: { port?: number; socketPath?: string }, urlPath: string, opts: { host?: string; localAddress?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { ...(target.socketPath ? { socketPath: target.socketPath } : { host: '127.0.0.1', port: target.port }), path: urlPath, agent: false, localAddress: opts.localAddress, headers: opts.host === undefined ? {} : { Host: opts.host }, timeout: 10_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer in 10 s')));
    req.on('error', reject);
    req.end();
  });
}

/** An idle connection (nothing sent), and a way to know whether the server has closed it. */
async function idle(port: number, localAddress = '127.0.0.1'): Promise<{ socket: net.Socket; closed: () => boolean }> {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress });
  let closed = false;
  socket.on('close', () => (closed = true));
  socket.on('error', () => undefined);
  socket.on('data', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, closed: () => closed };
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

describe('admin listener guards', () => {
  it('idle connections, from one peer or from many 127.x addresses, never lock out /metrics', async () => {
    const raas = await startRaas({ args: ['--listen', '127.0.0.1:0', '-w', '1', '--admin', 'http://127.0.0.1:0'] });
    const port = portOf(await adminUrl(raas));
    const held: Array<Awaited<ReturnType<typeof idle>>> = [];
    try {
      // The attack of the issue: the whole global cap in idle connections from 127.0.0.1.
      for (let i = 0; i < MAX_CONNECTIONS; i++) held.push(await idle(port));
      const started = Date.now();
      const scrape = await request({ port }, '/metrics');
      assert.equal(scrape.status, 200);
      assert.match(scrape.body, /raas_workers_wanted 1/);
      assert.ok(Date.now() - started < 2000, `the scrape waited ${Date.now() - started} ms`);
      // One peer keeps at most MAX_PER_PEER: the others were closed to make room, oldest first.
      await waitUntil('the surplus of 127.0.0.1 closed', () => held.filter((h) => !h.closed()).length <= MAX_PER_PEER - 1);
      assert.ok(held[0]!.closed(), 'the oldest idle connection made room');

      // Spread over many source addresses (any local user can bind 127.x): the global cap is full,
      // and a scrape still gets in.
      for (let i = 0; i < MAX_CONNECTIONS; i++) held.push(await idle(port, `127.0.0.${10 + i}`));
      const spread = await request({ port }, '/status', { localAddress: '127.0.0.99' });
      assert.equal(spread.status, 200);
      assert.equal((JSON.parse(spread.body) as { schema: number }).schema, 1);
      await waitUntil('at most the global cap open', () => held.filter((h) => !h.closed()).length <= MAX_CONNECTIONS);
    } finally {
      for (const h of held) h.socket.destroy();
    }
  });

  it('closes a trickled request at the documented deadline', async () => {
    const raas = await startRaas({ args: ['--listen', '127.0.0.1:0', '-w', '1', '--admin', 'http://127.0.0.1:0'] });
    const port = portOf(await adminUrl(raas));
    const { socket, closed } = await idle(port);
    const started = Date.now();
    socket.write('GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    // A byte every 200 ms: each resets an idle timer, none completes the headers.
    const drip = setInterval(() => socket.writable && socket.write('a'), 200);
    try {
      await waitUntil('the server to close the trickled connection', closed, 3 * TIMEOUT_MS);
    } finally {
      clearInterval(drip);
      socket.destroy();
    }
    const lived = Date.now() - started;
    assert.ok(lived >= TIMEOUT_MS - 250 && lived <= TIMEOUT_MS + 1000, `the trickled connection lived ${lived} ms, documented ${TIMEOUT_MS}`);
  });

  it('answers only loopback names and its own address in Host (DNS rebinding)', async () => {
    const raas = await startRaas({ args: ['--listen', '127.0.0.1:0', '-w', '1', '--admin', 'http://127.0.0.1:0'] });
    const port = portOf(await adminUrl(raas));
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `127.1.2.3:${port}`, `[::1]:${port}`, 'LOCALHOST.', '127.0.0.1']) {
      const ok = await request({ port }, '/status', { host });
      assert.equal(ok.status, 200, `Host: ${host}`);
    }
    for (const host of [`evil.example:${port}`, 'localhost.evil.example', `10.0.0.1:${port}`, `127.0.0.1.nip.io:${port}`]) {
      const refused = await request({ port }, '/status', { host });
      assert.equal(refused.status, 421, `Host: ${host}`);
      assert.match(refused.body, /is not served here \(a guard against DNS rebinding\); ask for localhost, a loopback address or http:\/\/127\.0\.0\.1:0/);
      assert.doesNotMatch(refused.body, /"schema"/);
    }
  });

  it('a unix: admin path: a file that is not a socket is kept and refused, a stale socket replaced, socket-mode applied', async () => {
    const dir = tmpDir('raas-admin-');
    const plain = path.join(dir, 'not-a-socket');
    fs.writeFileSync(plain, 'precious\n');
    const refused = await startRaas({ args: ['--listen', '127.0.0.1:0', '-w', '1', '--admin', `http://unix:${plain}`] });
    const error = await refused.waitForEvent(LOG.ADMIN_ERROR, { role: 'master' });
    assert.match(error.error!, /the path exists and is not a socket/);
    assert.equal(fs.readFileSync(plain, 'utf8'), 'precious\n');
    assert.deepEqual(refused.events(LOG.ADMIN_LISTENING), []);
    refused.signal('SIGTERM');
    await refused.waitExit();
    assert.equal(fs.readFileSync(plain, 'utf8'), 'precious\n', 'shutdown left the file alone');

    // A socket file nobody answers on (what a SIGKILLed master leaves behind).
    const sock = path.join(dir, 'admin.sock');
    const killed = spawnSync(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(sock)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    assert.equal(killed.signal, 'SIGKILL');
    assert.ok(fs.lstatSync(sock).isSocket());
    const raas = await startRaas({ args: ['--listen', '127.0.0.1:0', '-w', '1', '--admin', `http://unix:${sock}`, '--socket-mode', '0600'] });
    await raas.waitForEvent(LOG.ADMIN_LISTENING, { role: 'master' });
    assert.equal(fs.lstatSync(sock).mode & 0o777, 0o600);
    // Any Host is fine on a Unix socket: no browser page reaches one.
    const reply = await request({ socketPath: sock }, '/status', { host: 'evil.example' });
    assert.equal(reply.status, 200);

    // The default socket-mode (0660), whatever the umask (the test runner's is usually 022).
    const other = path.join(dir, 'admin2.sock');
    const second = await startRaas({ args: ['--listen', '127.0.0.1:0', '-w', '1', '--admin', `http://unix:${other}`] });
    await second.waitForEvent(LOG.ADMIN_LISTENING, { role: 'master' });
    assert.equal(fs.lstatSync(other).mode & 0o777, 0o660);
    second.signal('SIGTERM');
    await second.waitExit();
    assert.equal(fs.existsSync(other), false, 'the socket file is removed at shutdown');
    raas.signal('SIGTERM');
    await raas.waitExit();
  });

  it('warns at start when bound off loopback, and only then', async () => {
    // In a network namespace of its own (loopback down, nothing else): 0.0.0.0 reaches nobody.
    const dir = tmpDir('raas-admin-');
    const exposed = await startRaas({
      args: ['--listen', `unix:${path.join(dir, 'a.sock')}`, '-w', '1', '--admin', 'http://0.0.0.0:0'],
      wrapper: ['unshare', '--net', '--'],
    });
    const warning = await exposed.waitForEvent(LOG.ADMIN_EXPOSED, { role: 'master' });
    assert.equal(warning.level, 'warn');
    assert.match(warning.advice!, /no authentication/);
    assert.match(warning.admin!, /^http:\/\/0\.0\.0\.0:\d+$/);

    const quiet = await startRaas({ args: ['--listen', '127.0.0.1:0', '-w', '1', '--admin', 'http://127.0.0.1:0'] });
    await quiet.waitForEvent(LOG.ADMIN_LISTENING, { role: 'master' });
    assert.deepEqual(quiet.events(LOG.ADMIN_EXPOSED), []);
  });
});
