// Unit tests of the incremental first-line reader (src/protocols/line-reader.ts), fed whole,
// byte by byte and in seeded random chunks.
// Runs in: the test runner (no server).

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { LineReader, type LineResult } from '../../src/protocols/line-reader.js';

import { seededRandom as prng } from '../helpers/random.js';

type Chunker = (data: Buffer) => Buffer[];

const whole: Chunker = (data) => [data];
const byteByByte: Chunker = (data) => [...data].map((b) => Buffer.from([b]));
function randomChunks(seed: number): Chunker {
  return (data) => {
    const next = prng(seed);
    const chunks: Buffer[] = [];
    for (let i = 0; i < data.length; ) {
      const n = 1 + Math.floor(next() * 12);
      chunks.push(data.subarray(i, i + n));
      i += n;
    }
    return chunks;
  };
}

const CHUNKERS: Array<[string, Chunker]> = [
  ['whole', whole],
  ['byte by byte', byteByByte],
  ...Array.from({ length: 20 }, (_, i): [string, Chunker] => [`random seed ${i}`, randomChunks(i + 1)]),
];

/** Feeds the chunks; calls end() after the last one when `end` is set. null: still waiting. */
function read(maxLine: number, chunks: Buffer[], end: boolean): LineResult | null {
  const reader = new LineReader(maxLine);
  for (const chunk of chunks) {
    const result = reader.push(chunk);
    if (result !== null) return result;
  }
  return end ? reader.end() : null;
}

type Expected = string | 'TOO-LONG' | null;

function describeResult(result: LineResult | null): Expected {
  if (result === null) return null;
  if (result.kind === 'too-long') return 'TOO-LONG';
  return result.bytes.toString('latin1');
}

const x = (n: number): string => 'x'.repeat(n);

// [name, input (latin1), maxLine, call end()?, expected line | 'TOO-LONG' | null]
const CASES: Array<[string, string, number, boolean, Expected]> = [
  ['LF', 'hello\n', 64, false, 'hello'],
  ['CRLF', 'hello\r\n', 64, false, 'hello'],
  ['only the first line counts', 'hello\nworld\n', 64, false, 'hello'],
  ['bytes after the line are ignored', 'hi\n' + x(500), 8, false, 'hi'],
  ['empty line LF', '\n', 64, false, ''],
  ['empty line CRLF', '\r\n', 64, false, ''],
  ['partial last line via end()', 'partial', 64, true, 'partial'],
  ['nothing then end()', '', 64, true, ''],
  ['no newline yet, no end', 'partial', 64, false, null],
  ['lone CR in the middle is kept', 'a\rb\n', 64, false, 'a\rb'],
  ['only one CR is stripped', 'ab\r\r\n', 64, false, 'ab\r'],
  ['trailing CR without LF at end() is kept', 'ab\r', 64, true, 'ab\r'],
  ['binary bytes', '\x00\xff\x80\x7f\n', 64, false, '\x00\xff\x80\x7f'],
  ['exactly maxLine, LF', x(8) + '\n', 8, false, x(8)],
  ['exactly maxLine, CRLF', x(8) + '\r\n', 8, false, x(8)],
  ['exactly maxLine at end()', x(8), 8, true, x(8)],
  ['maxLine + 1, LF', x(9) + '\n', 8, false, 'TOO-LONG'],
  ['maxLine + 1, CRLF', x(9) + '\r\n', 8, false, 'TOO-LONG'],
  ['maxLine + 1 without newline', x(9), 8, false, 'TOO-LONG'],
  ['maxLine then CR, pending', x(8) + '\r', 8, false, null],
  ['maxLine then CR then other byte', x(8) + '\ry', 8, false, 'TOO-LONG'],
  ['maxLine then CR at end()', x(8) + '\r', 8, true, 'TOO-LONG'],
  ['oversize spread across chunks', x(1000) + '\n', 32, false, 'TOO-LONG'],
  ['oversize at end()', x(40), 32, true, 'TOO-LONG'],
  ['maxLine 1', 'a\n', 1, false, 'a'],
  ['maxLine 1, too long', 'ab\n', 1, false, 'TOO-LONG'],
];

for (const [name, input, maxLine, end, expected] of CASES) {
  test(`LineReader: ${name}`, () => {
    const data = Buffer.from(input, 'latin1');
    for (const [chunking, chunker] of CHUNKERS) {
      const got = describeResult(read(maxLine, chunker(data), end));
      assert.equal(got, expected, `chunking: ${chunking}`);
    }
  });
}

test('LineReader: too-long is reported as soon as maxLine + 1 bytes without CR are buffered', () => {
  const reader = new LineReader(8);
  for (let i = 1; i <= 8; i++) assert.equal(reader.push(Buffer.from('x')), null, `byte ${i}`);
  assert.equal(reader.push(Buffer.from('\r')), null, 'a CR may start CRLF');
  assert.deepEqual(reader.push(Buffer.from('x')), { kind: 'too-long' });
});

test('LineReader: a huge first chunk without newline is too long at once', () => {
  const reader = new LineReader(16);
  assert.deepEqual(reader.push(Buffer.alloc(1 << 20, 0x61)), { kind: 'too-long' });
});

test('LineReader: first chunk holding the line is returned without copying', () => {
  const chunk = Buffer.from('hello\r\nrest');
  const result = new LineReader(64).push(chunk);
  assert.ok(result !== null && result.kind === 'line');
  assert.equal(result.bytes.buffer, chunk.buffer);
  assert.equal(result.bytes.byteOffset, chunk.byteOffset);
  assert.equal(result.bytes.toString(), 'hello');
});

test('LineReader: the result does not change when the caller reuses later chunks', () => {
  const reader = new LineReader(64);
  const first = Buffer.from('hel');
  assert.equal(reader.push(first), null);
  const result = reader.push(Buffer.from('lo\n'));
  first.fill(0x21);
  assert.ok(result !== null && result.kind === 'line');
  assert.equal(result.bytes.toString(), 'hello');
});

test('LineReader: after a result, push() returns null and end() repeats the result', () => {
  const reader = new LineReader(64);
  const result = reader.push(Buffer.from('one\n'));
  assert.ok(result !== null && result.kind === 'line');
  assert.equal(reader.push(Buffer.from('two\n')), null);
  assert.equal(reader.end(), result);
});

test('LineReader: empty chunks change nothing', () => {
  const reader = new LineReader(4);
  assert.equal(reader.push(Buffer.alloc(0)), null);
  assert.equal(reader.push(Buffer.from('ab')), null);
  assert.equal(reader.push(Buffer.alloc(0)), null);
  const result = reader.push(Buffer.from('c\n'));
  assert.ok(result !== null && result.kind === 'line');
  assert.equal(result.bytes.toString(), 'abc');
});
