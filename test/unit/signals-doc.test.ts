// docs/SIGNALS.md is generated from the signal table; this keeps them from drifting apart.
// Runs in: the test runner process.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { renderSignalsDoc, SIGNALS } from '../../src/signals.js';

test('docs/SIGNALS.md matches the signal table', () => {
  const doc = fs.readFileSync(new URL('../../../docs/SIGNALS.md', import.meta.url), 'utf8');
  assert.equal(doc, renderSignalsDoc(), 'regenerate with: node -e "import(\'./dist/src/signals.js\').then(m=>process.stdout.write(m.renderSignalsDoc()))" > docs/SIGNALS.md');
});

test('the table covers every Unicorn signal once', () => {
  const names = SIGNALS.map((s) => s.signal).sort();
  assert.deepEqual(names, ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGTTIN', 'SIGTTOU', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH']);
});
