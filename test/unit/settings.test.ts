// Unit tests of settings resolution: argv parsing, per-kind coercion, layering, config files, help.
// Runs in: the node:test runner process; config files are written to a temp directory.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { SettingError } from '../../src/config/errors.js';
import { renderHelp } from '../../src/config/help.js';
import { CONTROL_COMMANDS } from '../../src/control/commands.js';
import { parseArgv, resolveSettings, settingsFrom, type Layers } from '../../src/config/load.js';
import { SETTINGS } from '../../src/config/settings.js';

const CWD = '/srv/app';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'raas-settings-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const flags = (...argv: string[]): Partial<Layers> => ({ flags: parseArgv(argv).values });
const resolve = (layers: Partial<Layers> = {}) => settingsFrom({ cwd: CWD, ...layers });

/** Asserts that `fn` throws a SettingError naming `setting` and containing `value` and `why`. */
function refused(fn: () => unknown, setting: string, value: string, why?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof SettingError, String(err));
    assert.equal(err.setting, setting);
    assert.ok(err.message.includes(`"${setting}"`) || err.message.includes(setting), err.message);
    assert.ok(err.message.includes(value), `${err.message} should mention ${value}`);
    if (why !== undefined) assert.match(err.message, why);
    return true;
  });
}

describe('the settings table', () => {
  it('has unique keys, names, flags and environment variables', () => {
    for (const field of ['key', 'name'] as const) {
      assert.equal(new Set(SETTINGS.map((s) => s[field])).size, SETTINGS.length, field);
    }
    const shorts = SETTINGS.flatMap((s) => (s.short === undefined ? [] : [s.short]));
    assert.equal(new Set([...shorts, '-h', '-v']).size, shorts.length + 2);
    const envs = SETTINGS.flatMap((s) => s.env);
    assert.equal(new Set(envs).size, envs.length);
  });
});

describe('defaults', () => {
  it('resolve, with one worker per CPU core and normalized listen addresses', () => {
    const { settings, sources } = resolve();
    assert.equal(settings.workers, os.availableParallelism());
    assert.deepEqual(settings.listen, ['line://127.0.0.1:2200', 'http://127.0.0.1:8080']);
    assert.equal(settings.maxLine, 65536);
    assert.equal(settings.logFile, null);
    assert.equal(settings.upgradeHandover, 'manual');
    assert.ok(Object.values(sources).every((s) => s === 'default'));
  });
});

describe('coercion per kind', () => {
  it('int', () => {
    assert.equal(resolve(flags('-w', '4')).settings.workers, 4);
    refused(() => resolve(flags('-w', 'abc')), 'workers', '"abc"', /whole number/);
    refused(() => resolve(flags('-w', '2.5')), 'workers', '"2.5"');
    refused(() => resolve(flags('-w', '0')), 'workers', '"0"', /at least 1/);
    refused(() => resolve(flags('-w', '5000')), 'workers', '"5000"', /at most 1024/);
  });
  it('seconds, with the timeout minimum of 2', () => {
    assert.equal(resolve(flags('--timeout', '2.5')).settings.timeout, 2.5);
    assert.equal(resolve(flags('--shutdown-timeout', '0')).settings.shutdownTimeout, 0);
    refused(() => resolve(flags('-t', '1.9')), 'timeout', '"1.9"', /at least 2 seconds/);
    refused(() => resolve(flags('-t', 'NaN')), 'timeout', '"NaN"', /number of seconds/);
    refused(() => resolve(flags('--shutdown-timeout', '-1')), 'shutdown-timeout', '"-1"', /at least 0/);
    refused(() => resolve(flags('-t', '1e12')), 'timeout', '"1e12"');
    refused(() => resolve(flags('-t', '9999999')), 'timeout', '"9999999"', /at most/);
  });
  it('bytes, with k/K/KiB/kb and m/M/MiB suffixes', () => {
    for (const [text, n] of [['65536', 65536], ['64k', 65536], ['64K', 65536], ['64KiB', 65536], ['64kb', 65536],
      ['1m', 1 << 20], ['1M', 1 << 20], ['1MiB', 1 << 20], ['1.5k', 1536]] as const) {
      assert.equal(resolve(flags('--max-line', text)).settings.maxLine, n, text);
    }
    refused(() => resolve(flags('--max-line', 'abc')), 'max-line', '"abc"', /number of bytes, e\.g\. 65536 or 64KiB/);
    refused(() => resolve(flags('--max-line', '64 parsecs')), 'max-line', '"64 parsecs"');
    refused(() => resolve(flags('--max-line', '1.5')), 'max-line', '"1.5"');
    refused(() => resolve(flags('--max-line', '0')), 'max-line', '"0"', /at least 1 bytes/);
    refused(() => resolve(flags('--max-line', '65MiB')), 'max-line', '"65MiB"', /at most 64MiB/);
  });
  it('string', () => {
    assert.equal(resolve(flags('--name', 'shop')).settings.name, 'shop');
    refused(() => resolve(flags('--name=')), 'name', '""');
    refused(() => resolve(flags('--name', 'a\nb')), 'name', '"a\\nb"', /control characters/);
  });
  it('name: printable ASCII without spaces or brackets, short enough for the process title', () => {
    assert.equal(resolve(flags('--name', 'shop-2_eu.v1')).settings.name, 'shop-2_eu.v1');
    for (const bad of ['a]b', '[x', 'two words', 'café', 'x'.repeat(17)]) {
      refused(() => resolve(flags('--name', bad)), 'name', JSON.stringify(bad), /printable ASCII characters, no spaces or brackets/);
    }
    refused(() => resolve({ env: { RAAS_NAME: 'evil] master' } }), 'name', '"evil] master"', /environment variable RAAS_NAME/);
  });
  it('mode: octal permission bits as a string', () => {
    assert.equal(resolve().settings.socketMode, 0o660);
    assert.equal(resolve(flags('--socket-mode', '0600')).settings.socketMode, 0o600);
    assert.equal(resolve({ env: { RAAS_SOCKET_MODE: '666' } }).settings.socketMode, 0o666);
    refused(() => resolve(flags('--socket-mode', '0999')), 'socket-mode', '"0999"', /octal/);
    refused(() => resolve(flags('--socket-mode', 'rw-rw----')), 'socket-mode', '"rw-rw----"', /octal/);
  });
  it('path, keeping "-" where the setting allows it', () => {
    assert.equal(resolve(flags('--log-file', 'logs/raas.log')).settings.logFile, '/srv/app/logs/raas.log');
    assert.equal(resolve(flags('--pid', '/run/raas.pid')).settings.pid, '/run/raas.pid');
    assert.equal(resolve(flags('--access-log', '-')).settings.accessLog, '-');
    assert.equal(resolve(flags('--log-file', '-')).settings.logFile, '/srv/app/-');
    refused(() => resolve(flags('--log-file=')), 'log-file', '""', /file path/);
  });
  it('enum', () => {
    assert.equal(resolve(flags('--upgrade-handover', 'AUTO')).settings.upgradeHandover, 'auto');
    refused(() => resolve(flags('--upgrade-handover', 'sometimes')), 'upgrade-handover', '"sometimes"', /one of: manual, auto/);
  });
  it('list: env comma-separated, flags repeated, every item a valid address', () => {
    assert.deepEqual(resolve({ env: { RAAS_LISTEN: ':1, http://:2' } }).settings.listen, ['line://0.0.0.0:1', 'http://0.0.0.0:2']);
    assert.deepEqual(resolve(flags('-l', ':1', '--listen=[::1]:2')).settings.listen, ['line://0.0.0.0:1', 'line://[::1]:2']);
    refused(() => resolve(flags('-l', '127.0.0.1')), 'listen', '"127.0.0.1"', /no port/);
    refused(() => resolve(flags('-l', ':1', '-l', '0.0.0.0:1')), 'listen', '0.0.0.0:1', /listed twice/);
    refused(() => resolve({ env: { RAAS_LISTEN: ' , ' } }), 'listen', '" , "', /at least one/);
  });
  it('config-file values may already be numbers and arrays, but of the right type', () => {
    const file = (values: Record<string, unknown>) => ({ file: { path: '/etc/raas.json', values } });
    const { settings } = resolve(file({ 'max-line': 1024, workers: 3, listen: ['unix:x.sock'], timeout: 2.5 }));
    assert.deepEqual([settings.maxLine, settings.workers, settings.listen, settings.timeout], [1024, 3, ['line://unix:/srv/app/x.sock'], 2.5]);
    assert.equal(resolve(file({ logFile: null })).settings.logFile, null);
    refused(() => resolve(file({ workers: true })), 'workers', 'true', /config file \/etc\/raas\.json/);
    refused(() => resolve(file({ maxLine: 1.5 })), 'max-line', '1.5');
    refused(() => resolve(file({ workers: null })), 'workers', 'null');
    refused(() => resolve(file({ listen: [1] })), 'listen', '[1]');
  });
});

describe('layering', () => {
  const file = { path: '/etc/raas.json', values: { workers: 2 } };
  it('WEB_CONCURRENCY sets workers, and RAAS_WORKERS beats it', () => {
    assert.equal(resolve({ env: { WEB_CONCURRENCY: '3' } }).settings.workers, 3);
    assert.equal(resolve({ env: { WEB_CONCURRENCY: '3', RAAS_WORKERS: '5' } }).settings.workers, 5);
    assert.equal(resolve({ env: { RAAS_WORKERS: '' } }).settings.workers, os.availableParallelism());
  });
  it('flag beats env beats file beats default, and says so in sources', () => {
    const env = { RAAS_WORKERS: '5' };
    assert.deepEqual(pick(resolve({ file })), [2, 'file']);
    assert.deepEqual(pick(resolve({ file, env })), [5, 'env']);
    assert.deepEqual(pick(resolve({ file, env, ...flags('-w4') })), [4, 'flag']);
  });
  it('a flag list replaces the file list rather than appending to it', () => {
    const listFile = { path: '/etc/raas.json', values: { listen: [':1', ':2'] } };
    assert.deepEqual(resolve({ file: listFile, ...flags('-l', ':3') }).settings.listen, ['line://0.0.0.0:3']);
  });
  it('refuses a bad value even when a higher layer overrides it, naming where it came from', () => {
    refused(() => resolve({ env: { WEB_CONCURRENCY: 'lots' }, ...flags('-w', '2') }), 'workers', '"lots"', /environment variable WEB_CONCURRENCY/);
  });
  it('refuses unknown config keys, naming the key and the file', () => {
    refused(() => resolve({ file: { path: '/etc/raas.json', values: { maxLines: 1 } } }), 'maxLines', '/etc/raas.json', /did you mean "maxLine"/);
    refused(() => resolve({ file: { path: '/etc/raas.json', values: { config: 'x.json' } } }), 'config', '/etc/raas.json');
  });
  const pick = (r: ReturnType<typeof resolve>) => [r.settings.workers, r.sources.workers];
});

describe('parseArgv', () => {
  it('reads every flag form, positionals, help and version', () => {
    const parsed = parseArgv(['--workers=3', '-t2.5', '-l', 'a', 'reload', '--listen', 'b', '-h', '-v', '--', '-w']);
    assert.deepEqual(parsed, {
      values: { workers: '3', timeout: '2.5', listen: ['a', 'b'] },
      positionals: ['reload', '-w'],
      help: true,
      version: true,
    });
  });
  it('refuses an unknown flag, naming it', () => {
    refused(() => parseArgv(['--wrokers', '3']), '--wrokers', '--wrokers', /unknown flag.*did you mean --workers/);
    refused(() => parseArgv(['-x']), '-x', '-x', /unknown flag/);
  });
  it('refuses a flag without its value', () => {
    refused(() => parseArgv(['-w']), 'workers', '-w', /needs a value/);
  });
});

describe('config files', () => {
  let n = 0;
  const write = (ext: string, text: string, name = `raas-${++n}`): string => {
    const file = path.join(tmp, `${name}${ext}`);
    fs.writeFileSync(file, text);
    return file;
  };
  const cwd = tmp;

  it('loads JSON named by RAAS_CONFIG, relative to cwd', async () => {
    const file = write('.json', '{ "max-line": "1KiB", "listen": [":7000"] }');
    const r = await resolveSettings({ argv: [], env: { RAAS_CONFIG: path.basename(file) }, cwd });
    assert.equal(r.settings.maxLine, 1024);
    assert.equal(r.settings.config, file);
    assert.deepEqual([r.sources.maxLine, r.sources.config, r.sources.workers], ['file', 'env', 'default']);
  });
  it('refuses JSON with a syntax error, naming the file and the parser message', async () => {
    const file = write('.json', '{ "workers": 2, }');
    await assert.rejects(resolveSettings({ argv: ['-c', file], env: {}, cwd }), (err: unknown) => {
      assert.ok(err instanceof SettingError);
      assert.equal(err.setting, 'config');
      assert.ok(err.message.includes(file), err.message);
      assert.match(err.message, /not valid JSON: .+/);
      return true;
    });
  });
  it('refuses a missing file, a hook in JSON, and an unsupported extension', async () => {
    await assert.rejects(resolveSettings({ argv: ['-c', 'nope.json'], env: {}, cwd }), /setting "config".*nope\.json.*cannot read/);
    const hookJson = write('.json', '{ "beforeSpawn": "x" }');
    await assert.rejects(resolveSettings({ argv: ['-c', hookJson], env: {}, cwd }), /beforeSpawn.*expected a function/);
    const yaml = write('.yaml', 'workers: 2');
    await assert.rejects(resolveSettings({ argv: ['-c', yaml], env: {}, cwd }), /\.json, \.js, \.mjs or \.cjs/);
  });
  it('loads a JS config with hooks, and re-reads it after it changed', async () => {
    const body = (workers: number) =>
      `export default { workers: ${workers}, beforeSpawn(w) { return w.slot; }, afterWorkerExit() {} };\n`;
    const file = write('.mjs', body(2));
    const first = await resolveSettings({ argv: ['--config', file], env: {}, cwd });
    assert.equal(first.settings.workers, 2);
    assert.equal(first.hooks.beforeSpawn?.({ slot: 7, generation: 1 }), 7);
    assert.equal(typeof first.hooks.afterWorkerExit, 'function');
    assert.equal(first.hooks.afterWorkerReady, undefined);
    fs.writeFileSync(file, body(3));
    assert.equal((await resolveSettings({ argv: ['--config', file], env: {}, cwd })).settings.workers, 3);
  });
  it('re-reads a CommonJS config too', async () => {
    const file = write('.cjs', 'module.exports = { workers: 2 };\n');
    assert.equal((await resolveSettings({ argv: ['-c', file], env: {}, cwd })).settings.workers, 2);
    fs.writeFileSync(file, 'module.exports = { workers: 3 };\n');
    assert.equal((await resolveSettings({ argv: ['-c', file], env: {}, cwd })).settings.workers, 3);
  });
  it('refuses a JS config that throws or exports no object', async () => {
    const throws = write('.mjs', 'throw new Error("boom");\n');
    await assert.rejects(resolveSettings({ argv: ['-c', throws], env: {}, cwd }), /setting "config".*failed to load: boom/);
    const none = write('.mjs', 'export const workers = 2;\n');
    await assert.rejects(resolveSettings({ argv: ['-c', none], env: {}, cwd }), /default export that is an object/);
  });
});

describe('renderHelp', () => {
  it('lists every setting with its flags and env vars, the commands, within 100 columns', () => {
    const help = renderHelp(CONTROL_COMMANDS);
    for (const spec of SETTINGS) {
      assert.ok(help.includes(`--${spec.name} `), spec.name);
      for (const env of spec.env) assert.ok(help.includes(env), env);
    }
    for (const text of ['-w, --workers N', 'one per CPU core', '64KiB', 'reload', 'scale N', 'status', 'find the master through --pid']) {
      assert.ok(help.includes(text), text);
    }
    for (const line of help.split('\n')) assert.ok(line.length <= 100, line);
  });
});
