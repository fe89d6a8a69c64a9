// Unit: the `app` setting's master-side checks (src/config/app-file.ts): a missing, non-file or
// unreadable app is refused naming the path; a TypeScript app needs a Node line that strips types
// by default, a strip flag, or a loader in worker-node-args or NODE_OPTIONS.
// Runs in: the test runner process.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { checkAppFile, stripsTypesByDefault } from '../../src/config/app-file.js';
import { SettingError } from '../../src/config/errors.js';
import { tmpDir } from '../helpers/raas.js';

const dir = tmpDir('raas-app-file-');
const js = path.join(dir, 'server.mjs');
const ts = path.join(dir, 'server.ts');
const tsx = path.join(dir, 'page.tsx');
for (const f of [js, ts, tsx]) fs.writeFileSync(f, '');

function refusal(app: string, opts: { args?: string[]; env?: NodeJS.ProcessEnv; version?: string } = {}): string | null {
  try {
    checkAppFile({ app, workerNodeArgs: opts.args ?? [] }, opts.env ?? {}, opts.version ?? '26.10.0');
    return null;
  } catch (err) {
    assert.ok(err instanceof SettingError);
    assert.equal(err.setting, 'app');
    return err.message;
  }
}

describe('app file checks', () => {
  it('knows which Node lines strip types by default', () => {
    for (const v of ['22.18.0', '22.20.1', '23.6.0', '24.0.0', '26.10.0']) assert.equal(stripsTypesByDefault(v), true, v);
    for (const v of ['20.20.2', '22.17.1', '22.6.0', '23.5.0', '18.20.0']) assert.equal(stripsTypesByDefault(v), false, v);
  });

  it('refuses a missing file, a directory and (unless root) an unreadable file, naming the path', () => {
    assert.match(refusal(path.join(dir, 'nope.mjs')) ?? '', new RegExp(`setting "app": ${dir}/nope\\.mjs: no such file`));
    assert.match(refusal(dir) ?? '', /is a directory/);
    assert.equal(refusal(js), null);
    if (process.geteuid?.() !== 0) {
      const locked = path.join(dir, 'locked.mjs');
      fs.writeFileSync(locked, '', { mode: 0o000 });
      assert.match(refusal(locked) ?? '', /cannot read it/);
    }
  });

  it('runs a .ts app where types are stripped by default, refuses it elsewhere saying what to do', () => {
    assert.equal(refusal(ts, { version: '22.18.0' }), null);
    const on20 = refusal(ts, { version: '20.20.2' }) ?? '';
    assert.match(on20, /Node 20\.20\.2 cannot run TypeScript; use Node 22\.18\+ or 24\+/);
    assert.match(on20, /--worker-node-args=--import=tsx/);
    assert.match(refusal(ts, { version: '22.12.0' }) ?? '', /--experimental-strip-types/);
    assert.match(refusal(ts, { args: ['--no-experimental-strip-types'] }) ?? '', /turns off Node's type stripping/);
    assert.match(refusal(tsx) ?? '', /\.tsx/);
  });

  it('trusts a loader or a strip flag in worker-node-args or NODE_OPTIONS', () => {
    assert.equal(refusal(ts, { version: '20.20.2', args: ['--import=tsx'] }), null);
    assert.equal(refusal(ts, { version: '20.20.2', args: ['--enable-source-maps --import tsx'] }), null);
    assert.equal(refusal(ts, { version: '20.20.2', env: { NODE_OPTIONS: '--require ts-node/register' } }), null);
    assert.equal(refusal(ts, { version: '22.12.0', args: ['--experimental-strip-types'] }), null);
    assert.equal(refusal(tsx, { args: ['--import=tsx'] }), null);
  });
});
