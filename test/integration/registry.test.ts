// Integration (issue 18, item 7): control commands find their master without --pid. Each master
// registers in a per-user run directory ($XDG_RUNTIME_DIR/raas here: a tmp dir per test, so tests
// never see each other's masters); `raas status` lists them, `--name` picks one, two that match
// are refused and listed; a USR2 successor answers to the name; stale entries are cleaned and
// hostile ones (a link, a wrong mode, another user's) ignored.
// Runs in: the test runner process; drives real masters, control commands and signals.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { EXIT } from '../../src/exit-codes.js';
import { LOG } from '../../src/log.js';
import { lineRequest, targetOf } from '../helpers/clients.js';
import { control } from '../helpers/control.js';
import { isAlive, reapAll, startRaas, tmpDir, waitUntil, type RaasProcess } from '../helpers/raas.js';

after(reapAll);

const asRoot = process.getuid?.() === 0;

/** A run directory of this test's own: the masters and commands of one test see only each other. */
function runtime(): { env: NodeJS.ProcessEnv; dir: string } {
  const xdg = tmpDir('raas-xdg-');
  return { env: { XDG_RUNTIME_DIR: xdg }, dir: path.join(xdg, 'raas') };
}

function start(env: NodeJS.ProcessEnv, ...args: string[]): Promise<RaasProcess> {
  return startRaas({ args: ['--listen', '127.0.0.1:0', ...args], env });
}

/** The rows of `raas status` (the list), by pid: [name, pid, state, workers, gen, uptime, requests]. */
function rows(stdout: string): Map<number, string[]> {
  const lines = stdout.split('\n').filter((l) => /^\S+\s+\d+\s/.test(l));
  return new Map(lines.map((l) => l.trim().split(/\s{2,}/)).map((cells) => [Number(cells[1]), cells]));
}

const entries = (dir: string): string[] => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /^\d+\.json$/.test(f)).sort() : []);

describe('registry: control commands that find their master', () => {
  it('lists masters, picks one by name, refuses two, and each entry goes when its master exits', async () => {
    const { env, dir } = runtime();
    const pidFile = path.join(tmpDir(), 'blog.pid');
    const shop = await start(env, '-w', '2', '--name', 'shop');
    const blog = await start(env, '-w', '1', '--name', 'blog', '--pid', pidFile);
    assert.deepEqual(entries(dir), [`${shop.pid}.json`, `${blog.pid}.json`].sort());
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
    assert.equal(fs.statSync(path.join(dir, `${shop.pid}.json`)).mode & 0o777, 0o600);

    // Requests counted: 7 lines to shop, shown once the stats report (rewritten each second) has them.
    const [shopAddress] = await shop.ready();
    for (let i = 0; i < 7; i++) assert.equal(await lineRequest(targetOf(shopAddress!), 'abc\n'), 'cba\n');
    let list = await control(['status'], env);
    await waitUntil('the list to count 7 requests for shop', async () => {
      list = await control(['status'], env);
      return rows(list.stdout).get(shop.pid)?.[6] === '7';
    }, 30_000); // each try starts a process: a loaded CI machine needs the room
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^NAME\s+PID\s+STATE\s+WORKERS\s+GEN\s+UPTIME\s+REQUESTS$/m);
    assert.deepEqual(rows(list.stdout).get(shop.pid)?.slice(0, 5), ['shop', String(shop.pid), 'running', '2/2', '1']);
    assert.deepEqual(rows(list.stdout).get(blog.pid)?.slice(0, 5), ['blog', String(blog.pid), 'running', '1/1', '1']);
    assert.match(rows(list.stdout).get(blog.pid)![5]!, /^\d+s$/);
    const json = JSON.parse((await control(['status', '--json'], env)).stdout) as { runDir: string; masters: Array<{ name: string; pid: number; pidFile: string | null }> };
    assert.equal(json.runDir, dir);
    assert.deepEqual(json.masters.map((m) => [m.name, m.pid, m.pidFile]), [['shop', shop.pid, null], ['blog', blog.pid, pidFile]]);

    // Two masters match a command without a name: refused, both listed, nothing signalled.
    const refused = await control(['reload'], env);
    assert.equal(refused.code, EXIT.CONTROL_FAILED);
    assert.match(refused.stderr, /2 masters are running: refused/);
    assert.match(refused.stderr, new RegExp(`^shop\\s+${shop.pid}\\s`, 'm'));
    assert.match(refused.stderr, new RegExp(`^blog\\s+${blog.pid}\\s`, 'm'));
    assert.equal(shop.events(LOG.SIGNAL).length + blog.events(LOG.SIGNAL).length, 0);

    // --name picks one: the full status, a reload, a scale.
    const one = await control(['status', '--name', 'shop'], env);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, new RegExp(`^master ${shop.pid} running ready generation=1 workers=2$`, 'm'));
    const reloaded = await control(['reload', '--name', 'shop'], env);
    assert.equal(reloaded.code, 0, reloaded.stderr);
    assert.match(reloaded.stdout, new RegExp(`reloaded: master ${shop.pid} serves generation 2`));
    assert.equal(blog.events(LOG.SIGNAL).length, 0, 'the other master was not signalled');
    const scaled = await control(['scale', '3', '--name', 'shop'], env);
    assert.equal(scaled.code, 0, scaled.stderr);
    const none = await control(['stop', '--name', 'nosuch'], env);
    assert.equal(none.code, EXIT.CONTROL_FAILED);
    assert.match(none.stderr, /no master named nosuch is running \(registered in .*: shop, blog\)/);

    // --pid FILE alone works as before, whatever the registry holds.
    const byPid = await control(['status', '--pid', pidFile], env);
    assert.equal(byPid.code, 0, byPid.stderr);
    assert.match(byPid.stdout, new RegExp(`^master ${blog.pid} running ready generation=1 workers=1$`, 'm'));

    const stopped = await control(['stop', '--name', 'blog'], env);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.equal((await blog.waitExit()).code, 0);
    assert.deepEqual(entries(dir), [`${shop.pid}.json`]);
    assert.equal(fs.existsSync(pidFile), false);

    // One master left: commands without a name are meant for it.
    const again = await control(['reload'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, new RegExp(`reloaded: master ${shop.pid} serves generation 3`));
    const quit = await control(['quit'], env);
    assert.equal(quit.code, 0, quit.stderr);
    assert.equal((await shop.waitExit()).code, 0);
    assert.deepEqual(fs.readdirSync(dir), [], 'the entry and the state files kept there are gone');
    const empty = await control(['status'], env);
    assert.equal(empty.code, EXIT.CONTROL_FAILED);
    assert.match(empty.stderr, /no master is running \(none registered in /);
  });

  it('two masters of one name: refused even with --name, and listed', async () => {
    const { env } = runtime();
    const a = await start(env, '-w', '1', '--name', 'twin');
    const b = await start(env, '-w', '1', '--name', 'twin');
    for (const args of [['stop'], ['stop', '--name', 'twin'], ['status', '--name', 'twin']]) {
      const res = await control(args, env);
      assert.equal(res.code, EXIT.CONTROL_FAILED, args.join(' '));
      assert.match(res.stderr, /2 masters (named twin )?are running: refused/);
      assert.match(res.stderr, new RegExp(`^twin\\s+${a.pid}\\s`, 'm'));
      assert.match(res.stderr, new RegExp(`^twin\\s+${b.pid}\\s`, 'm'));
    }
    assert.ok(a.alive && b.alive);
    assert.equal(a.events(LOG.SIGNAL).length + b.events(LOG.SIGNAL).length, 0);
    for (const raas of [a, b]) raas.kill();
  });

  it('across a USR2 upgrade the name finds the new master; the old entry goes with the old master', async () => {
    const { env, dir } = runtime();
    const raas = await start(env, '-w', '1', '--name', 'web');
    const old = raas.pid;
    const upgraded = await control(['upgrade'], env);
    assert.equal(upgraded.code, 0, upgraded.stderr);
    const fresh = Number(/upgraded: master (\d+) is ready/.exec(upgraded.stdout)?.[1]);
    assert.ok(fresh > 0 && fresh !== old, upgraded.stdout);
    const successorEntry = JSON.parse(fs.readFileSync(path.join(dir, `${fresh}.json`), 'utf8')) as { parent: number; name: string };
    assert.deepEqual([successorEntry.name, successorEntry.parent], ['web', old]);

    const list = await control(['status'], env);
    assert.equal(list.code, 0, list.stderr);
    assert.equal(rows(list.stdout).get(old)?.[2], 'running (old)');
    assert.equal(rows(list.stdout).get(fresh)?.[2], 'running (new)');
    // Not two rivals: the name (and no name) means the new master, as the pid file would.
    const named = await control(['status', '--name', 'web'], env);
    assert.equal(named.code, 0, named.stderr);
    assert.match(named.stdout, new RegExp(`^master ${fresh} running ready`, 'm'));
    const unnamed = await control(['scale', '1'], env);
    assert.equal(unnamed.code, 0, unnamed.stderr);
    assert.match(unnamed.stdout, new RegExp(`^scaled: master ${fresh} runs 1 workers$`, 'm'));
    // The old master goes (WINCH then QUIT, as the upgrade says): so does its entry.
    process.kill(old, 'SIGQUIT');
    await raas.waitExit();
    await waitUntil('the old entry to go', () => !fs.existsSync(path.join(dir, `${old}.json`)));
    const quit = await control(['quit', '--name', 'web'], env);
    assert.equal(quit.code, 0, quit.stderr);
    assert.match(quit.stdout, new RegExp(`stopped: master ${fresh}`));
    assert.equal(isAlive(fresh), false);
    assert.deepEqual(entries(dir), []);
  });

  it('with an automatic hand-over, `raas upgrade` finds the new master through its entry', async () => {
    const { env, dir } = runtime();
    const raas = await start(env, '-w', '1', '--name', 'auto', '--upgrade-handover', 'auto');
    const upgraded = await control(['upgrade', '--upgrade-handover', 'auto'], env);
    assert.equal(upgraded.code, 0, upgraded.stderr);
    const fresh = Number(new RegExp(`upgraded: master (\\d+) replaced ${raas.pid}`).exec(upgraded.stdout)?.[1]);
    assert.ok(fresh > 0, upgraded.stdout);
    await raas.waitExit();
    assert.deepEqual(entries(dir), [`${fresh}.json`]);
    const stopped = await control(['stop'], env);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stdout, new RegExp(`stopped: master ${fresh}`));
  });

  it('stale entries (a master killed, a dead pid) are ignored and cleaned, by a command and by a master at boot', async () => {
    const { env, dir } = runtime();
    const killed = await start(env, '-w', '1', '--name', 'gone');
    await waitUntil('its status file', () => fs.existsSync(path.join(dir, `${killed.pid}.status.json`)));
    killed.kill(); // SIGKILL: no chance to remove anything
    await killed.exited;
    assert.deepEqual(entries(dir), [`${killed.pid}.json`]);
    /** An entry of ours, mode 0600, for a pid that is dead for sure (a child that has exited). */
    const forge = (): number => {
      const dead = spawnSync('true').pid!;
      const forged = { pid: dead, name: 'ghost', parent: null, started: Date.now(), cwd: '/', pidFile: null, statusFile: path.join(dir, `${dead}.status.json`), statsFile: path.join(dir, `${dead}.stats.json`) };
      fs.writeFileSync(path.join(dir, `${dead}.json`), JSON.stringify(forged), { mode: 0o600 });
      fs.writeFileSync(path.join(dir, `${dead}.status.json`), '{}', { mode: 0o600 });
      // What a master killed in the middle of a write leaves (safe-file.ts's temp name).
      fs.writeFileSync(path.join(dir, `.${dead}.stats.json.0123456789abcdef.tmp`), '{', { mode: 0o600 });
      return dead;
    };
    const dead = forge();
    assert.deepEqual(entries(dir), [`${killed.pid}.json`, `${dead}.json`].sort());

    const none = await control(['status'], env);
    assert.equal(none.code, EXIT.CONTROL_FAILED);
    assert.match(none.stderr, /no master is running/);
    assert.equal(none.stdout, '');
    assert.deepEqual(fs.readdirSync(dir), [], 'the stale entries and their state files are gone');

    // A master that boots cleans up too, so killed masters do not pile up in a directory nobody lists.
    const ghost = forge();
    const live = await start(env, '-w', '1', '--name', 'live');
    assert.deepEqual(entries(dir), [`${live.pid}.json`]);
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith(`${ghost}.`)), []);
    const list = await control(['status'], env);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual([...rows(list.stdout).keys()], [live.pid]);
    assert.equal(list.stderr, '');
    // And a command without a name means the one live master, not a ghost.
    const stopped = await control(['stop'], env);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stdout, new RegExp(`stopped: master ${live.pid}`));
  });

  it('hostile entries are ignored and left alone: a symlink, a wrong mode, another user\'s file', async () => {
    const a = runtime();
    const b = runtime();
    const mine = await start(a.env, '-w', '1', '--name', 'mine');
    // A live master of ours registered elsewhere: its entry planted in a's directory must not count.
    const other = await start(b.env, '-w', '1', '--name', 'other');
    const real = path.join(b.dir, `${other.pid}.json`);
    const planted = path.join(a.dir, `${other.pid}.json`);
    const check = async (what: string, reason: RegExp): Promise<void> => {
      const list = await control(['status'], a.env);
      assert.equal(list.code, 0, `${what}: ${list.stderr}`);
      assert.deepEqual([...rows(list.stdout).keys()], [mine.pid], what);
      assert.match(list.stderr, reason, what);
      const stop = await control(['stop', '--name', 'other'], a.env);
      assert.equal(stop.code, EXIT.CONTROL_FAILED, what);
      assert.match(stop.stderr, /no master named other is running/, what);
      assert.ok(fs.lstatSync(planted), `${what}: left where it was`);
      assert.ok(other.alive, `${what}: never signalled`);
    };

    fs.symlinkSync(real, planted);
    await check('a symlink', /is a symbolic link: refused/);
    fs.unlinkSync(planted);

    fs.copyFileSync(real, planted);
    fs.chmodSync(planted, 0o644);
    await check('mode 0644', /has mode 644, not 600/);

    fs.chmodSync(planted, 0o600);
    fs.unlinkSync(planted);
    fs.linkSync(real, planted);
    await check('a hard link', /has 2 hard links/);
    fs.unlinkSync(planted);

    if (asRoot) {
      fs.copyFileSync(real, planted);
      fs.chmodSync(planted, 0o600);
      fs.chownSync(planted, 65534, 65534);
      await check("another user's file", /owned by uid 65534, not by uid 0/);
      fs.unlinkSync(planted);
    }
    assert.equal(other.events(LOG.SIGNAL).length, 0);
    for (const raas of [mine, other]) raas.kill();
  });

  it('an untrusted run directory (open to others, a link, another user\'s) is refused by commands and costs a master only its entry', async () => {
    const { env, dir } = runtime();
    const first = await start(env, '-w', '1', '--name', 'first');
    fs.chmodSync(dir, 0o755);
    const open = await control(['status'], env);
    assert.equal(open.code, EXIT.CONTROL_FAILED);
    assert.match(open.stderr, /run directory .* has mode 755: only its user may have access \(chmod 700 .*\); pass --pid FILE/);
    const second = await start(env, '-w', '1', '--name', 'second');
    const warning = await second.waitForEvent(LOG.REGISTRY_ERROR);
    assert.match(warning.error ?? '', /has mode 755/);
    assert.equal(fs.existsSync(path.join(dir, `${second.pid}.json`)), false);
    fs.chmodSync(dir, 0o700);
    const list = await control(['status'], env);
    assert.deepEqual([...rows(list.stdout).keys()], [first.pid], 'the second master serves, unregistered');

    // The run directory a link to a private directory: refused all the same.
    const linked = runtime();
    const target = tmpDir('raas-target-');
    fs.symlinkSync(target, linked.dir);
    const third = await start(linked.env, '-w', '1', '--name', 'third');
    assert.match((await third.waitForEvent(LOG.REGISTRY_ERROR)).error ?? '', /is a symbolic link: refused/);
    assert.deepEqual(fs.readdirSync(target), []);
    const viaLink = await control(['status'], linked.env);
    assert.equal(viaLink.code, EXIT.CONTROL_FAILED);
    assert.match(viaLink.stderr, /is a symbolic link: refused/);

    if (asRoot) {
      const squatted = runtime();
      fs.mkdirSync(squatted.dir, { mode: 0o700 });
      fs.chownSync(squatted.dir, 65534, 65534);
      const fourth = await start(squatted.env, '-w', '1', '--name', 'fourth');
      assert.match((await fourth.waitForEvent(LOG.REGISTRY_ERROR)).error ?? '', /owned by uid 65534, not by uid 0: refused/);
      const res = await control(['status'], squatted.env);
      assert.equal(res.code, EXIT.CONTROL_FAILED);
      assert.match(res.stderr, /owned by uid 65534/);
      fourth.kill();
    }
    for (const raas of [first, second, third]) raas.kill();
  });

  it('run-dir (flag and env) names the directory; the same setting finds the masters there', async () => {
    const { env } = runtime();
    const chosen = path.join(tmpDir(), 'masters');
    const raas = await startRaas({ args: ['--listen', '127.0.0.1:0', '-w', '1', '--name', 'chosen'], env: { ...env, RAAS_RUN_DIR: chosen } });
    assert.deepEqual(entries(chosen), [`${raas.pid}.json`]);
    const elsewhere = await control(['status'], env);
    assert.equal(elsewhere.code, EXIT.CONTROL_FAILED);
    const found = await control(['status', '--run-dir', chosen], env);
    assert.equal(found.code, 0, found.stderr);
    assert.deepEqual([...rows(found.stdout).keys()], [raas.pid]);
    const stopped = await control(['stop'], { ...env, RAAS_RUN_DIR: chosen });
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.deepEqual(entries(chosen), []);
  });
});
