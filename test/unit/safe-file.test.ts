// Unit tests of the master's safe file writes and reads (src/safe-file.ts) on real files:
// planted symlinks and temp names, a target that is a directory, umask 000, other owners.
// Runs in: the node:test runner process; files in a temp directory.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { checkDirectory, randomHex, readOwnedFile, UnsafeFileError, writeFileAtomic } from '../../src/safe-file.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'raas-safe-file-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const asRoot = process.getuid?.() === 0;

function dir(): string {
  return fs.mkdtempSync(path.join(tmp, 'd-'));
}

describe('writeFileAtomic', () => {
  it('replaces a symlink at the target instead of writing through it', () => {
    const d = dir();
    const victim = path.join(d, 'victim');
    fs.writeFileSync(victim, 'precious\n');
    const target = path.join(d, 'raas.pid');
    fs.symlinkSync(victim, target);
    writeFileAtomic(target, '123\n', 0o644);
    assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n');
    assert.ok(fs.lstatSync(target).isFile());
    assert.equal(fs.readFileSync(target, 'utf8'), '123\n');
    assert.deepEqual(fs.readdirSync(d).sort(), ['raas.pid', 'victim']);
  });

  it('sets the mode it is given whatever the umask', () => {
    const d = dir();
    const old = process.umask(0);
    try {
      writeFileAtomic(path.join(d, 'a'), 'x', 0o644);
      writeFileAtomic(path.join(d, 'b'), 'x', 0o600);
    } finally {
      process.umask(old);
    }
    assert.equal(fs.statSync(path.join(d, 'a')).mode & 0o777, 0o644);
    assert.equal(fs.statSync(path.join(d, 'b')).mode & 0o777, 0o600);
  });

  it('fails on a target that is a directory, with the path in the message, leaving no temp file', () => {
    const d = dir();
    const target = path.join(d, 'raas.pid');
    fs.mkdirSync(target);
    assert.throws(() => writeFileAtomic(target, '1\n', 0o644), (err: unknown) => {
      assert.ok(err instanceof UnsafeFileError);
      assert.match(err.message, new RegExp(`${target}.*is a directory`));
      return true;
    });
    assert.deepEqual(fs.readdirSync(d), ['raas.pid']);
    assert.deepEqual(fs.readdirSync(target), []);
  });

  it('fails, not silently, when the directory is missing', () => {
    assert.throws(() => writeFileAtomic(path.join(tmp, 'missing', 'f'), 'x', 0o600), /cannot write .*missing\/f/);
  });
});

describe('randomHex', () => {
  it('gives the asked number of bytes as hex, different every time (temp names stay unpredictable)', () => {
    const names = Array.from({ length: 64 }, () => randomHex(8));
    for (const name of names) assert.match(name, /^[0-9a-f]{16}$/);
    assert.equal(new Set(names).size, names.length);
    assert.match(randomHex(6), /^[0-9a-f]{12}$/);
  });
});

describe('readOwnedFile', () => {
  it('reads our regular file, null when missing', () => {
    const d = dir();
    fs.writeFileSync(path.join(d, 'f'), 'hello');
    assert.equal(readOwnedFile(path.join(d, 'f')), 'hello');
    assert.equal(readOwnedFile(path.join(d, 'none')), null);
  });

  it('refuses a symlink, a directory and a FIFO (without hanging)', () => {
    const d = dir();
    fs.writeFileSync(path.join(d, 'real'), '1');
    fs.symlinkSync(path.join(d, 'real'), path.join(d, 'link'));
    fs.mkdirSync(path.join(d, 'sub'));
    assert.throws(() => readOwnedFile(path.join(d, 'link')), /symbolic link/);
    assert.throws(() => readOwnedFile(path.join(d, 'sub')), /is a directory/);
  });

  it('refuses a file owned by another user', { skip: !asRoot && 'needs root to chown' }, () => {
    const d = dir();
    const f = path.join(d, 'f');
    fs.writeFileSync(f, '1');
    fs.chownSync(f, 65534, 65534);
    assert.throws(() => readOwnedFile(f), /owned by uid 65534, not by uid 0/);
    assert.equal(readOwnedFile(f, 65534), '1');
  });
});

describe('checkDirectory', () => {
  it('refuses a world-writable directory unless it is sticky', () => {
    const d = dir();
    fs.chmodSync(d, 0o777);
    assert.throws(() => checkDirectory(d), /writable by every user and not sticky \(mode 777\)/);
    fs.chmodSync(d, 0o1777);
    checkDirectory(d);
    fs.chmodSync(d, 0o755);
    checkDirectory(d);
    assert.throws(() => checkDirectory(path.join(d, 'none')), /not usable: ENOENT/);
  });
});
