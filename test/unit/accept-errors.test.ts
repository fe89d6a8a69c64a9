// Unit: accept errors are logged at most once a second per listener, with the count suppressed.
// Runs in: the test runner process.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { LOG, Logger, parseLine } from '../../src/log.js';
import { AcceptErrorLog } from '../../src/worker/accept-errors.js';
import { tmpDir } from '../helpers/raas.js';

function emfile(): Error {
  return Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' });
}

describe('accept error log', () => {
  it('logs the first error, counts the next ones for a second, then logs with the count', async () => {
    const file = path.join(tmpDir(), 'log');
    const log = new Logger({ role: 'worker' }, file);
    let now = 10_000;
    const errors = new AcceptErrorLog(log, 'http://127.0.0.1:1', () => now);
    for (let i = 0; i < 500; i++) {
      errors.report(emfile());
      now += 1; // 500 errors over 0.5 s
    }
    now += 600; // more than a second after the first line
    errors.report(emfile());
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n').map(parseLine);
    assert.equal(lines.length, 2);
    assert.deepEqual(
      lines.map((l) => [l.event, l.error, l.suppressed, l.listen]),
      [
        [LOG.ACCEPT_ERROR, 'EMFILE', '0', 'http://127.0.0.1:1'],
        [LOG.ACCEPT_ERROR, 'EMFILE', '499', 'http://127.0.0.1:1'],
      ],
    );
  });

  it('tells the count of a last burst when no error follows it', async () => {
    const file = path.join(tmpDir(), 'log');
    const log = new Logger({ role: 'worker' }, file);
    const errors = new AcceptErrorLog(log, 'line://127.0.0.1:1');
    for (let i = 0; i < 5; i++) errors.report(emfile());
    const deadline = Date.now() + 5000;
    let lines: Array<Record<string, string>> = [];
    while (Date.now() < deadline) {
      lines = fs.readFileSync(file, 'utf8').trim().split('\n').map(parseLine);
      if (lines.length === 2) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(lines.map((l) => l.suppressed), ['0', '4']);
  });
});
