// Unit tests of the worker's command line: RAAS's default heap flag on Node 20, which the user's own
// sizing (worker-node-args or the NODE_OPTIONS workers inherit) replaces; and that V8 honours it.
// Runs in: the node:test runner process; one short child `node` process checks V8.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { WORKER_SEMI_SPACE_FLAG, workerArgv, workerHeapFlags } from '../../src/master/launcher.js';

describe('worker heap flags', () => {
  it('sizes the semi-space by default on Node 20, before the user flags and the worker script', () => {
    assert.deepEqual(workerHeapFlags(['--enable-source-maps'], undefined, 20), [WORKER_SEMI_SPACE_FLAG]);
    assert.deepEqual(workerHeapFlags([], '--max-old-space-size=512', 20), [WORKER_SEMI_SPACE_FLAG]);
    const argv = workerArgv('raas', 0, ['--enable-source-maps']);
    const ours = argv.indexOf(WORKER_SEMI_SPACE_FLAG);
    if (workerHeapFlags(['--enable-source-maps']).length === 0) {
      assert.equal(ours, -1, `argv ${argv.join(' ')}`);
      return;
    }
    assert.ok(ours !== -1, `argv ${argv.join(' ')}`);
    assert.ok(ours < argv.indexOf('--enable-source-maps'));
    assert.ok(argv.findIndex((a) => a.endsWith('main.js')) > ours);
  });

  it("leaves newer Node lines to V8's own sizing", () => {
    assert.deepEqual(workerHeapFlags([], undefined, 22), []);
    assert.deepEqual(workerHeapFlags([], undefined, 26), []);
    const major = Number(process.versions.node.split('.')[0]);
    assert.deepEqual(workerHeapFlags([], ''), major <= 20 ? [WORKER_SEMI_SPACE_FLAG] : []);
  });

  it('leaves the semi-space to the user who sizes it in worker-node-args', () => {
    assert.deepEqual(workerHeapFlags(['--max-semi-space-size=16'], undefined, 20), []);
    assert.deepEqual(workerHeapFlags(['--max_semi_space_size=32'], undefined, 20), []);
    assert.ok(!workerArgv('raas', 0, ['--max-semi-space-size=16']).includes(WORKER_SEMI_SPACE_FLAG));
  });

  it('leaves it to NODE_OPTIONS too, which the command line would otherwise override', () => {
    assert.deepEqual(workerHeapFlags([], '--enable-source-maps --max-semi-space-size=64', 20), []);
    assert.deepEqual(workerHeapFlags([], '  --max_semi_space_size 64', 20), []);
    // A flag that only starts the same is not the same flag.
    assert.deepEqual(workerHeapFlags([], '--max-semi-space-sizes=1', 20), [WORKER_SEMI_SPACE_FLAG]);
  });

  it('is a flag V8 honours: the young generation stays within two semi-spaces of that size', () => {
    const mib = Number(WORKER_SEMI_SPACE_FLAG.split('=')[1]);
    // Allocates ~3M short-lived objects and reports the largest new space V8 grew to.
    const script = `
      const v8 = require('node:v8'); let keep = []; let max = 0;
      for (let i = 0; i < 3e6; i++) {
        keep.push({ a: i, b: [i] }); if (keep.length > 2e5) keep = [];
        if (i % 1e5 === 0) max = Math.max(max, v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size);
      }
      process.stdout.write(String(max));`;
    const grown = (flags: string[]): number =>
      Number(execFileSync(process.execPath, [...flags, '-e', script], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } }));
    const capped = grown([WORKER_SEMI_SPACE_FLAG]);
    assert.ok(capped <= 2 * mib * 1024 * 1024, `new space grew to ${capped} bytes`);
    // Without the flag the same allocation grows it further: the flag is what keeps it small.
    assert.ok(grown([]) > capped);
  });
});
