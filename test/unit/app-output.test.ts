// Unit: the app-output line splitter (src/worker/app-output.ts): lines across chunks, CRLF, empty
// lines, a line over the limit cut into numbered parts at a UTF-8 boundary, the last partial line.
// Runs in: the test runner process.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LineSplitter } from '../../src/worker/app-output.js';

type Out = { line: string; part?: number; more?: boolean; newline?: boolean };

function split(chunks: Array<string | Buffer>, max?: number, flush = true): Out[] {
  const out: Out[] = [];
  const s = new LineSplitter((line, extra) => out.push({ line, ...extra }), max);
  for (const c of chunks) s.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  if (flush) s.flush();
  return out;
}

describe('app-output LineSplitter', () => {
  it('joins a line across chunks, keeps empty lines, drops CR of CRLF', () => {
    assert.deepEqual(split(['hel', 'lo\nwor', 'ld\r\n\nlast']), [
      { line: 'hello' },
      { line: 'world' },
      { line: '' },
      { line: 'last', newline: false },
    ]);
  });

  it('holds a partial line until the newline or flush', () => {
    assert.deepEqual(split(['no newline'], undefined, false), []);
    assert.deepEqual(split([]), []);
  });

  it('cuts a long line into parts of at most max bytes, never inside a character', () => {
    const euro = Buffer.from('€'); // 3 bytes
    const bytes = Buffer.from('aaaa€bbbbbbbb\n'.replace('€', euro.toString()));
    const out = split([bytes.subarray(0, 5), bytes.subarray(5)], 5);
    assert.deepEqual(out, [
      { line: 'aaaa', part: 1, more: true },
      { line: '€bb', part: 2, more: true },
      { line: 'bbbbb', part: 3, more: true },
      { line: 'b', part: 4 },
    ]);
    // A line of exactly max bytes is not split.
    assert.deepEqual(split(['abcde\n'], 5), [{ line: 'abcde' }]);
  });
});
