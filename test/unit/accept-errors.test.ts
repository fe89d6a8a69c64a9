// Unit: accept errors are logged at most once a second per listener, with the count suppressed.
// Runs in: the test runner process.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { LOG, Logger, parseLine } from '../../src/log.js';
import { AcceptErrorLog } from '../../src/worker/accept-errors.js';
import { waitForLog } from '../helpers/log-file.js';
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
    // The count comes a second after the burst, by the log's own timer.
    const { entries } = await waitForLog(file, 'the line counting the burst', (c) => c.entries.length >= 2 && c, 15_000);
    assert.deepEqual(entries.map((l) => l.suppressed), ['0', '4']);
  });
});
