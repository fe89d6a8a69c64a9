// Unit: `env-file` parsing (src/config/env-file.ts): the fallback parser gives Node 26's answers
// on every case below, Node's own util.parseEnv (where this Node has it) agrees with it, and
// reading files: later files win, an unreadable or binary file is refused naming the setting.
// Runs in: the test runner process.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as util from 'node:util';
import { describe, it } from 'node:test';
import { parseDotenv, readEnvFiles } from '../../src/config/env-file.js';
import { SettingError } from '../../src/config/errors.js';
import { tmpDir } from '../helpers/raas.js';

/** Text, and what Node 26's util.parseEnv makes of it. */
const CASES: Array<[string, Record<string, string>]> = [
  ['A=1', { A: '1' }],
  ['export B=2', { B: '2' }],
  ['  export   AA=aa', { AA: 'aa' }],
  [' C = 3 ', { C: '3' }],
  ['D="x y"', { D: 'x y' }],
  ["E='single'", { E: 'single' }],
  ['F=`back`', { F: 'back' }],
  ['G="line\\nbreak"', { G: 'line\nbreak' }],
  ["H='no\\nexp'", { H: 'no\\nexp' }],
  ['I=val # comment', { I: 'val' }],
  ['J="q # not comment"', { J: 'q # not comment' }],
  ['# comment\nK=k', { K: 'k' }],
  ['L=', { L: '' }],
  ['M', {}],
  ['N="multi\nline"', { N: 'multi\nline' }],
  ['O=a=b', { O: 'a=b' }],
  ['P="unclosed', { P: '"unclosed' }],
  ['Q = spaced value ', { Q: 'spaced value' }],
  ['R=1\r\nS=2', { R: '1', S: '2' }],
  ['T=#hash', { T: '' }],
  ['U="a" trailing', { U: 'a' }],
  ['V=x\nV=y', { V: 'y' }],
  ['X.Y-Z=dots', { 'X.Y-Z': 'dots' }],
];

/** Cases where Node 20's own parser is known to differ from later lines (its bugs, not ours). */
const NODE20_DIFFERS = new Set(['  export   AA=aa', 'P="unclosed']);

describe('env-file parsing', () => {
  it('the fallback parser answers as Node 26 does', () => {
    for (const [text, expected] of CASES) assert.deepEqual(parseDotenv(text), expected, JSON.stringify(text));
  });

  const parseEnv = (util as unknown as { parseEnv?: (t: string) => Record<string, string> }).parseEnv;
  it('Node\'s own util.parseEnv agrees with the fallback on this Node', { skip: parseEnv === undefined && 'no util.parseEnv here' }, () => {
    const major = Number(process.versions.node.split('.')[0]);
    for (const [text] of CASES) {
      if (major < 22 && NODE20_DIFFERS.has(text)) continue;
      assert.deepEqual({ ...parseEnv!(text) }, parseDotenv(text), JSON.stringify(text));
    }
  });

  it('reads files in order (a later one wins); a missing or binary file is refused naming env-file and the path', () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'a.env'), 'A=1\nB=from-a\n');
    fs.writeFileSync(path.join(dir, 'b.env'), 'B=from-b\n');
    assert.deepEqual(readEnvFiles(['a.env', path.join(dir, 'b.env')], dir), { A: '1', B: 'from-b' });
    assert.ok(Object.isFrozen(readEnvFiles([], dir)));
    for (const bad of ['missing.env', 'bin.env']) {
      if (bad === 'bin.env') fs.writeFileSync(path.join(dir, bad), Buffer.from([0x41, 0x3d, 0, 0x31]));
      assert.throws(() => readEnvFiles([bad], dir), (err: unknown) => err instanceof SettingError && err.setting === 'env-file' && err.message.includes(bad));
    }
  });
});
