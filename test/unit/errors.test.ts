// Unit: the one error formatter (src/errors.ts), and that no other module formats errors its own way.
// Runs in: the test runner process.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { errorMessage, errorSummary, errorWithStack } from '../../src/errors.js';
import { REPO_ROOT } from '../helpers/raas.js';

describe('error formatter', () => {
  it('gives the message of an error, its stack when asked, and anything else as a string', () => {
    const err = new Error('boom');
    assert.equal(errorMessage(err), 'boom');
    assert.equal(errorWithStack(err), err.stack);
    assert.match(errorWithStack(err), /^Error: boom\n\s+at /);
    const bare = new Error('no stack');
    bare.stack = undefined;
    assert.equal(errorWithStack(bare), 'no stack');
    assert.equal(errorMessage({ message: 'error-like' }), 'error-like'); // another realm's error, a plain object
    assert.equal(errorMessage('text'), 'text');
    assert.equal(errorMessage(42), '42');
    assert.equal(errorMessage(null), 'null');
    assert.equal(errorWithStack(undefined), 'undefined');
  });

  it('sums an error up in one line: its name, first message line and where it was thrown', () => {
    const err = new TypeError('bad thing\nmore detail');
    err.stack = 'TypeError: bad thing\nmore detail\n    at node:internal/modules/run:1:1\n    at load (file:///srv/app/server.mjs:3:7)\n    at file:///srv/app/x.mjs:1:1';
    assert.equal(errorSummary(err), 'TypeError: bad thing (at file:///srv/app/server.mjs:3:7)');
    const syntax = new SyntaxError("Unexpected identifier 'x'");
    syntax.stack = "file:///srv/app/server.mjs:4\nlet y x\n      ^\n\nSyntaxError: Unexpected identifier 'x'";
    assert.equal(errorSummary(syntax), "SyntaxError: Unexpected identifier 'x' (at file:///srv/app/server.mjs:4)");
    const plain = new Error('no frames');
    plain.stack = 'Error: no frames';
    assert.equal(errorSummary(plain), 'no frames');
    assert.equal(errorSummary('thrown text\nsecond'), 'thrown text');
  });

  it('is the only formatter in src/', () => {
    const src = path.join(REPO_ROOT, 'src');
    const walk = (dir: string): string[] =>
      fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
    const wrong = walk(src)
      .filter((f) => path.relative(src, f) !== 'errors.ts')
      .flatMap((f) =>
        fs.readFileSync(f, 'utf8').split('\n').flatMap((line, i) =>
          /instanceof Error \?|as Error\)\??\.message|\.stack \?\? /.test(line) ? [`src/${path.relative(src, f)}:${i + 1}: ${line.trim()}`] : [],
        ),
      );
    assert.deepEqual(wrong, []);
  });
});
