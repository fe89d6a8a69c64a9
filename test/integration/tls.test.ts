// Integration: https:// listeners (TLS by RAAS, export mode and built-in endpoints) with tls-cert
// and tls-key, a renewed certificate picked up by a HUP without a failed request, the config
// error when a key is missing, and a zero-code app terminating TLS in its own https server.
// Runs in: the test runner process; drives real processes, sockets and signals (and openssl).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LOG } from '../../src/log.js';
import { reapAll, startRaas, tmpDir, waitUntil } from '../helpers/raas.js';

after(reapAll);

const fixture = (name: string): string => fileURLToPath(new URL(`../../../test/fixtures/${name}`, import.meta.url));

/** A fresh self-signed certificate for 127.0.0.1 (EC, quick to make). */
function makeCert(dir: string, name: string): { cert: string; key: string; fingerprint: string } {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1',
  ], { stdio: 'ignore' });
  const fingerprint = new crypto.X509Certificate(fs.readFileSync(cert)).fingerprint256;
  return { cert, key, fingerprint };
}

interface TlsReply {
  status: number;
  text: string;
  fingerprint: string;
}

function get(port: number, urlPath: string, agent: https.Agent | false = false): Promise<TlsReply> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: urlPath, agent, rejectUnauthorized: false, timeout: 10_000 }, (res) => {
      const fingerprint = (res.socket as import('node:tls').TLSSocket).getPeerX509Certificate()?.fingerprint256 ?? '';
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, fingerprint }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

describe('https:// listeners', () => {
  it('built-in endpoints and a fetch app over TLS; a renewed certificate is served after HUP, no request failing', async () => {
    const dir = tmpDir('raas-tls-');
    const first = makeCert(dir, 'first');
    const cert = path.join(dir, 'live.crt');
    const key = path.join(dir, 'live.key');
    fs.copyFileSync(first.cert, cert);
    fs.copyFileSync(first.key, key);

    const builtin = await startRaas({ args: ['--listen', 'https://127.0.0.1:0', '-w', '1', '--tls-cert', cert, '--tls-key', key] });
    const [b] = await builtin.ready();
    assert.match(b!, /^https:\/\/127\.0\.0\.1:\d+$/);
    const reversed = await get(Number(new URL(b!).port), '/reverse?s=abc');
    assert.deepEqual([reversed.status, reversed.text, reversed.fingerprint], [200, 'cba', first.fingerprint]);
    builtin.signal('SIGQUIT');
    assert.equal((await builtin.waitExit()).code, 0);

    const raas = await startRaas({
      args: ['--listen', 'https://127.0.0.1:0', '-w', '2', '--tls-cert', cert, '--tls-key', key, '--app', fixture('tls-fetch-app.mjs')],
    });
    const [bound] = await raas.ready();
    const port = Number(new URL(bound!).port);
    const hello = await get(port, '/');
    assert.deepEqual([hello.status, hello.text, hello.fingerprint], [200, 'https:', first.fingerprint]);

    // Keep-alive clients through the HUP: none may fail; the new generation serves the new pair.
    const failures: string[] = [];
    let ok = 0;
    let running = true;
    const loops = Array.from({ length: 8 }, async () => {
      const agent = new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
      while (running) {
        try {
          const reply = await get(port, '/', agent);
          if (reply.status === 200 && reply.text === 'https:') ok++;
          else failures.push(`${reply.status} ${reply.text}`);
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
      agent.destroy();
    });
    try {
      await waitUntil('requests before the HUP', () => ok >= 100, 15_000);
      const second = makeCert(dir, 'second');
      fs.copyFileSync(second.cert, cert);
      fs.copyFileSync(second.key, key);
      const mark = raas.entries.length;
      raas.signal('SIGHUP');
      await raas.waitForEvent(LOG.RELOAD_DONE, { role: 'master', gen: '2' }, { after: mark, timeoutMs: 20_000 });
      // Until an old worker handles its QUIT it still accepts (with the old pair): wait for that.
      const old = raas.events(LOG.WORKER_READY, 'master').filter((e) => e.gen === '1').map((e) => e.worker_pid!);
      for (const pid of old) await raas.waitForEvent(LOG.WORKER_DRAINING, { role: 'worker', pid }, { after: mark });
      const renewed = await get(port, '/');
      assert.equal(renewed.fingerprint, second.fingerprint);
      const before = ok;
      await waitUntil('requests after the HUP', () => ok >= before + 100, 15_000);
    } finally {
      running = false;
      await Promise.all(loops);
    }
    assert.deepEqual(failures, []);
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });

  it('an https:// listener without tls-key is a config error naming the setting', async () => {
    const dir = tmpDir('raas-tls-');
    const { cert } = makeCert(dir, 'lonely');
    const raas = await startRaas({ args: ['--listen', 'https://127.0.0.1:0', '--tls-cert', cert], waitReady: false });
    const exit = await raas.waitExit();
    assert.equal(exit.code, 2);
    assert.match(raas.lines.join('\n'), /setting "tls-key".*https:\/\/ listener needs both tls-cert and tls-key/);
  });

  it('a zero-code app terminates TLS in its own https server on an http:// listener', async () => {
    const dir = tmpDir('raas-tls-');
    const own = makeCert(dir, 'own');
    const raas = await startRaas({
      args: ['--listen', 'http://127.0.0.1:0', '-w', '1', '--app', fixture('zero-https.mjs')],
      env: { TEST_CERT: own.cert, TEST_KEY: own.key },
    });
    const [bound] = await raas.ready();
    const reply = await get(Number(new URL(bound!).port), '/');
    assert.deepEqual([reply.text, reply.fingerprint], ['own https true', own.fingerprint]);
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });
});
