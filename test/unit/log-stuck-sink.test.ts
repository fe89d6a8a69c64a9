// Unit: a Logger whose sink is a pipe nobody reads (a stuck log reader) waits for it once, then
// drops lines without waiting until one gets through, and says how many it dropped. A chatty app
// (app-output) must not cost its worker 100 ms per line.
// Runs in: the test runner process (a FIFO it holds open for reading, never read until the end).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { LOG, Logger, parseLine } from '../../src/log.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raas-stuck-sink-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('Logger on a stuck pipe', () => {
  it('waits once, then drops without waiting, and reports the count once the pipe drains', () => {
    const fifo = path.join(dir, 'log.fifo');
    execFileSync('mkfifo', ['-m', '0600', fifo]);
    const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      const log = new Logger({ role: 'test', pid: process.pid }, fifo);
      // Fill the pipe (64 KiB on Linux): the line that no longer fits is the first one lost.
      let written = 0;
      while (log.lostLines === 0 && written < 10_000) {
        log.info('fill', { n: written, pad: 'x'.repeat(200) });
        written++;
      }
      assert.equal(log.lostLines, 1, 'the pipe filled');
      const t0 = performance.now();
      for (let i = 0; i < 30; i++) log.info('more', { i, pad: 'x'.repeat(200) });
      const ms = performance.now() - t0;
      // (A short count line may still fit in the pipe's last bytes and restart the count once.)
      const lost = log.lostLines;
      assert.ok(lost >= 25, `${lost} lines lost`);
      // 30 lines at 100 ms each would be 3 s; without waits they take a few ms.
      assert.ok(ms < 500, `30 lines on a stuck pipe took ${ms.toFixed(0)} ms`);

      // The reader catches up: the next line is preceded by the count.
      const buf = Buffer.alloc(1 << 20);
      while (true) {
        try {
          if (fs.readSync(reader, buf) <= 0) break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EAGAIN') break;
          throw err;
        }
      }
      log.info('after');
      let text = '';
      for (;;) {
        try {
          const n = fs.readSync(reader, buf);
          if (n <= 0) break;
          text += buf.subarray(0, n).toString();
        } catch {
          break;
        }
      }
      const lines = text.split('\n').filter(Boolean).map(parseLine);
      assert.deepEqual(lines.map((l) => l.event), [LOG.LOG_LINES_LOST, 'after']);
      assert.equal(lines[0]!.lines, String(lost));
      assert.equal(lines[0]!.error, 'EAGAIN');
    } finally {
      fs.closeSync(reader);
    }
  });
});
