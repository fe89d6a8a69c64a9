// Integration: a real master and workers serve the line protocol over TCP and a Unix socket,
// carry their titles, put the configured backlog on the socket and stop on QUIT with exit 0.
// Runs in: the test runner process; drives real processes, sockets and signals.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { EXIT } from '../../src/exit-codes.js';
import { LOG } from '../../src/log.js';
import { lineRequest, targetOf } from '../helpers/clients.js';
import { CLI, isAlive, processArgs, reapAll, startRaas, tmpDir } from '../helpers/raas.js';

after(reapAll);

describe('serving', () => {
  it('serves over TCP and a Unix socket, titles every process, and QUIT exits 0', async () => {
    const dir = tmpDir();
    const sock = path.join(dir, 'raas.sock');
    const raas = await startRaas({
      args: ['--listen', '127.0.0.1:0', '--listen', `unix:${sock}`, '-w', '2', '--backlog', '77', '--name', 'RTEST'],
    });
    const [tcp, unix] = await raas.ready();
    assert.match(tcp!, /^line:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(unix, `line://unix:${sock}`);

    assert.equal(await lineRequest(targetOf(tcp!), 'hello\n'), 'olleh\n');
    assert.equal(await lineRequest(targetOf(unix!), 'e\u0301a👨‍👩‍👧\r\n'), '👨‍👩‍👧ae\u0301\n');
    assert.equal(await lineRequest(targetOf(tcp!), 'no newline', { halfClose: true }), 'enilwen on\n');

    // Titles, in full, in ps; slots 0 and 1.
    assert.equal(processArgs(raas.pid), '[RTEST] master');
    const workers = [...raas.readyWorkers().entries()].sort((a, b) => a[0] - b[0]);
    assert.deepEqual(
      workers.map(([slot, pid]) => processArgs(pid)),
      ['[RTEST] worker 0', '[RTEST] worker 1'],
    );
    const ps = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
    assert.match(ps, new RegExp(`^\\s*${raas.pid} \\[RTEST\\] master$`, 'm'));

    // The configured backlog is in force: ss shows it as Send-Q of the listening socket.
    const port = targetOf(tcp!) as { port: number };
    const ss = execFileSync('ss', ['-ltnH', `sport = :${port.port}`], { encoding: 'utf8' });
    assert.match(ss, /^LISTEN\s+\d+\s+77\s/m, ss);

    raas.signal('SIGQUIT');
    const { code } = await raas.waitExit();
    assert.equal(code, 0);
    for (const [, pid] of workers) assert.equal(isAlive(pid), false);
    assert.equal(fs.existsSync(sock), false, 'the socket file is removed at final shutdown');
    assert.ok(raas.events(LOG.STOPPED, 'master').length === 1);
    assert.deepEqual(raas.errorLines(), []);
  });

  it('removes a stale Unix socket file but refuses one that is in use', async () => {
    const dir = tmpDir();
    const sock = path.join(dir, 'stale.sock');
    // A stale socket: bound by a process that died without unlinking it.
    spawnSync(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(sock)},()=>process.kill(process.pid,'SIGKILL'))`,
    ]);
    assert.equal(fs.existsSync(sock), true);
    const first = await startRaas({ args: ['--listen', `unix:${sock}`, '-w', '1'] });
    assert.equal(await lineRequest({ path: sock }, 'ab\n'), 'ba\n');

    const second = await startRaas({ args: ['--listen', `unix:${sock}`, '-w', '1'], waitReady: false });
    const { code } = await second.waitExit();
    assert.notEqual(code, 0);
    assert.match(second.lines.join('\n'), /already serving/);
    assert.equal(await lineRequest({ path: sock }, 'ab\n'), 'ba\n', 'the first server is untouched');
    first.signal('SIGQUIT');
    assert.equal((await first.waitExit()).code, 0);
  });

  it('--version and --help', () => {
    const version = execFileSync(process.execPath, [CLI, '--version'], { encoding: 'utf8' });
    assert.match(version, /^raas \d+\.\d+\.\d+/);
    const help = execFileSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
    for (const flag of ['--listen', '--workers', '--backlog', '--timeout', '--shutdown-timeout', '--max-line',
      '--idle-timeout', '--name', '--log-file', '--config', 'WEB_CONCURRENCY']) {
      assert.ok(help.includes(flag), `help mentions ${flag}`);
    }
  });

  it('answers the line-protocol limits with clear errors', async () => {
    const raas = await startRaas({ args: ['--listen', '127.0.0.1:0', '-w', '1', '--max-line', '8'] });
    const [tcp] = await raas.ready();
    const target = targetOf(tcp!);
    assert.equal(await lineRequest(target, '123456789\n'), 'ERR line too long\n');
    assert.equal(await lineRequest(target, Buffer.from([0x61, 0xff, 0x0a])), 'ERR invalid UTF-8\n');
    assert.equal(await lineRequest(target, '\n'), '\n');
    raas.signal('SIGQUIT');
    assert.equal((await raas.waitExit()).code, 0);
  });
});

describe('refusing to start', () => {
  it('bad settings exit 2 with the setting and the value in the message, before binding anything', () => {
    for (const [args, env, setting] of [
      [['--workers', 'many'], {}, '"workers"'],
      [['--timeout', '1'], {}, '"timeout"'],
      [['--listen', '127.0.0.1'], {}, '"listen"'],
      [['--max-line', '12XB'], {}, '"max-line"'],
      [[], { WEB_CONCURRENCY: '0' }, '"workers"'],
      [['--no-such-flag'], {}, '--no-such-flag'],
    ] as const) {
      const result = spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, encoding: 'utf8' });
      assert.equal(result.status, EXIT.CONFIG, `${args.join(' ')}: ${result.stderr}`);
      assert.ok(result.stderr.includes(setting), result.stderr);
    }
  });

  it('workers that cannot boot at all make the master give up with exit 4 instead of looping', async () => {
    const dir = tmpDir();
    const app = path.join(dir, 'broken.mjs');
    fs.writeFileSync(app, 'throw new Error("cannot start");\n');
    const raas = await startRaas({ args: ['--listen', 'http://127.0.0.1:0', '-w', '2', '--app', app], waitReady: false });
    const { code } = await raas.waitExit(30_000);
    assert.equal(code, EXIT.WORKERS_CANNOT_BOOT);
    assert.equal(raas.events(LOG.WORKERS_CANNOT_BOOT).length, 1);
    assert.equal(raas.events(LOG.READY).length, 0);
    // Growing back-off between attempts, not a spin.
    const spawns = raas.events(LOG.WORKER_SPAWN).map((e) => Date.parse(e.time!));
    assert.ok(spawns.at(-1)! - spawns[0]! >= 700, `spawned ${spawns.length} times in ${spawns.at(-1)! - spawns[0]!} ms`);
  });
});
