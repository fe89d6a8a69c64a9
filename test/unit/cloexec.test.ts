// Unit: reading close-on-exec from /proc and setting it through the fdutil addon or not at all.
// Runs in: the test runner process.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { describe, it } from 'node:test';
import { isCloexec, setCloexecAll } from '../../src/worker/cloexec.js';
import { waitUntil } from '../helpers/raas.js';

describe('cloexec', () => {
  it('reads O_CLOEXEC from fdinfo: set on our own fds, clear on fds a shell keeps across exec', async () => {
    const fd = fs.openSync('/proc/self/status', 'r');
    try {
      assert.equal(isCloexec(fd), true); // libuv opens everything close-on-exec
    } finally {
      fs.closeSync(fd);
    }
    const sh = spawn('sh', ['-c', 'exec 7</dev/null; exec sleep 30'], { stdio: 'ignore' });
    try {
      // Once the shell has exec'd `sleep`, fd 7 is the one it kept across exec.
      await waitUntil('the shell to exec sleep', () => fs.readFileSync(`/proc/${sh.pid}/cmdline`, 'utf8').startsWith('sleep'), 15_000);
      assert.equal(isCloexec(7, sh.pid!), false);
    } finally {
      sh.kill('SIGKILL');
    }
    assert.equal(isCloexec(987_654), null);
  });

  it('leaves close-on-exec fds alone and reports what it cannot set', () => {
    const fd = fs.openSync('/proc/self/status', 'r');
    try {
      let calls = 0;
      assert.deepEqual(setCloexecAll([fd], () => void calls++), { leaking: [] });
      assert.equal(calls, 0);
      // An fd /proc knows nothing of: handed to the setter, whose failure is reported.
      const failing = setCloexecAll([987_654], () => {
        throw new Error('Bad file descriptor');
      });
      assert.deepEqual(failing, { leaking: [987_654], error: 'Bad file descriptor' });
      assert.deepEqual(setCloexecAll([987_654], null), { leaking: [987_654], error: 'the fdutil addon was not built' });
    } finally {
      fs.closeSync(fd);
    }
  });
});
