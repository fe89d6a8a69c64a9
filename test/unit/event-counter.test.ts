// Tests of the rate-limited event counter (src/protocols/event-counter.ts) with an injected clock.
// Runs in: the test runner.

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { EventCounter } from '../../src/protocols/event-counter.js';
import type { Logger } from '../../src/log.js';

test('EventCounter: one log line per interval, with the count held back; flush() writes the rest', () => {
  const lines: Array<Record<string, unknown>> = [];
  const log = { info: (event: string, fields: Record<string, unknown>) => lines.push({ event, ...fields }) } as unknown as Logger;
  let now = 1000;
  const counter = new EventCounter(log, 'info', 'x', { protocol: 'line' }, 100, () => now);
  counter.note();
  for (let i = 0; i < 500; i++) counter.note();
  assert.equal(lines.length, 1);
  assert.deepEqual(lines[0], { event: 'x', protocol: 'line', count: 1, total: 1 });
  now += 100;
  counter.note();
  assert.deepEqual(lines[1], { event: 'x', protocol: 'line', count: 501, total: 502 });
  counter.flush();
  assert.equal(lines.length, 2, 'nothing held back, nothing to flush');
  counter.note();
  counter.flush();
  assert.deepEqual(lines[2], { event: 'x', protocol: 'line', count: 1, total: 503 });
  assert.equal(counter.total, 503);
});
