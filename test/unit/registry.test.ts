// Unit: where masters register (runDirFor: the setting, XDG_RUNTIME_DIR when it is ours, /run/raas
// for root, else the temp dir's raas-UID) and which masters a command means (currentMasters: an
// old master hands its name to the USR2 successor whose entry names it; rivals stay rivals).
// Runs in: the test runner process.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { currentMasters, runDirFor, type RegistryEntry } from '../../src/master/files/registry.js';

const entry = (pid: number, name: string, parent: number | null = null): RegistryEntry => ({
  pid,
  name,
  parent,
  started: pid,
  cwd: '/',
  pidFile: null,
  statusFile: `/r/${pid}.status.json`,
  statsFile: `/r/${pid}.stats.json`,
});

describe('registry', () => {
  it('runDirFor: the setting first, then an XDG_RUNTIME_DIR of ours, /run/raas for root, else TMPDIR/raas-UID', () => {
    const xdg = fs.mkdtempSync(path.join(os.tmpdir(), 'raas-unit-xdg-'));
    const owner = fs.statSync(xdg).uid;
    assert.equal(runDirFor('/chosen', { XDG_RUNTIME_DIR: xdg }, owner), '/chosen');
    assert.equal(runDirFor(null, { XDG_RUNTIME_DIR: xdg }, owner), path.join(xdg, 'raas'));
    // Another user's XDG_RUNTIME_DIR (sudo keeps the caller's), a relative or missing one: not used.
    const other = owner + 1;
    for (const env of [{ XDG_RUNTIME_DIR: xdg }, { XDG_RUNTIME_DIR: 'relative/dir' }, { XDG_RUNTIME_DIR: path.join(xdg, 'missing') }, {}]) {
      assert.equal(runDirFor(null, env, other), path.join(os.tmpdir(), `raas-${other}`), JSON.stringify(env));
    }
    const runIsRoots = fs.statSync('/run', { throwIfNoEntry: false })?.uid === 0;
    assert.equal(runDirFor(null, {}, 0), runIsRoots ? '/run/raas' : path.join(os.tmpdir(), 'raas-0'));
    assert.equal(runDirFor(null, {}, null), null, 'no uid (Windows): no registry');
    fs.rmSync(xdg, { recursive: true });
  });

  it('currentMasters: an upgrade pair answers as its successor; two of a name stay two', () => {
    assert.deepEqual(currentMasters([entry(10, 'web'), entry(20, 'web', 10)]).map((e) => e.pid), [20]);
    assert.deepEqual(currentMasters([entry(10, 'web'), entry(20, 'web')]).map((e) => e.pid), [10, 20]);
    // A parent pid that another name's master happens to have is no hand-over.
    assert.deepEqual(currentMasters([entry(10, 'shop'), entry(20, 'web', 10)]).map((e) => e.pid), [10, 20]);
    // Parent gone (hand-over done): the successor alone.
    assert.deepEqual(currentMasters([entry(20, 'web', 10)]).map((e) => e.pid), [20]);
  });
});
