// Integration: a stuck-worker report (report-dir) is readable by its owner only, even under umask
// 000 and in a directory others may list, and it names the worker's environment variables without
// their values (a token in the environment must not be readable from a report).
// Runs in: the test runner process; drives a real master, a real blocked worker and real sockets.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { LOG } from '../../src/log.js';
import { REPO_ROOT, reapAll, startRaas, tmpDir } from '../helpers/raas.js';

after(reapAll);

const APP = path.join(REPO_ROOT, 'test', 'fixtures', 'stuck-app.mjs');
const UMASK_000 = ['/bin/sh', '-c', 'umask 000; exec "$@"', 'sh'];

describe('stuck-worker reports keep secrets', () => {
  it('a report is 0600 under umask 000 and holds the environment\'s names, not its values', async () => {
    const dir = tmpDir();
    fs.chmodSync(dir, 0o755); // others may list it: the file's own mode must keep them out
    const secret = `tok-${process.pid}-${Date.now()}-do-not-leak`;
    const raas = await startRaas({
      args: ['--listen', 'http://127.0.0.1:0', '-w', '1', '--timeout', '2', '--app', APP, '--report-dir', dir],
      env: { RAAS_TEST_SECRET_TOKEN: secret },
      wrapper: UMASK_000,
    });
    const [http] = await raas.ready();
    const victim = raas.readyWorkers().get(0)!;
    const { hostname, port } = new URL(http!);
    const client = net.connect(Number(port), hostname);
    client.on('error', () => {});
    client.write('GET /spin HTTP/1.1\r\nHost: x\r\n\r\n');
    const killed = await raas.waitForEvent(LOG.WORKER_TIMEOUT, { worker_pid: String(victim) }, { timeoutMs: 20_000 });
    client.destroy();
    // Still a report that says where the worker was stuck.
    assert.match(killed.stack ?? '', /^spinInNamedLoop /, `stack=${killed.stack}`);
    const file = killed.report!;
    assert.ok(file.startsWith(dir + path.sep), `report=${file}`);
    const stat = fs.lstatSync(file);
    assert.ok(stat.isFile());
    assert.equal(stat.mode & 0o777, 0o600, `mode ${(stat.mode & 0o777).toString(8)}`);
    const text = fs.readFileSync(file, 'utf8');
    assert.equal(text.includes(secret), false, 'the secret value is in the report');
    const report = JSON.parse(text) as { header: { processId: number }; environmentVariables: Record<string, string> };
    assert.equal(report.header.processId, victim);
    assert.equal(report.environmentVariables.RAAS_TEST_SECRET_TOKEN, '[redacted]');
    assert.ok('PATH' in report.environmentVariables, 'the names are kept');
    assert.ok(Object.values(report.environmentVariables).every((v) => v === '[redacted]'), 'every value is redacted');
    // No temp file left behind.
    assert.deepEqual(fs.readdirSync(dir).filter((n) => n.endsWith('.tmp')), []);
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });
});
