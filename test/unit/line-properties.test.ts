// Property-based tests (fast-check) of the line reader, the reversal and the line protocol's
// reply: chunking never changes the result, reversing twice is the identity on text made of
// whole grapheme clusters, invalid UTF-8 is always refused, lines over max-line always too long.
// Run counts are bounded so the suite stays fast; a failure prints its seed and shrunk input.
// Runs in: the test runner.

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { LineReader, type LineResult } from '../../src/protocols/line-reader.js';
import { replyFor } from '../../src/protocols/line.js';
import { reverseText, reverseUtf8 } from '../../src/protocols/reverse.js';

const RUNS = { numRuns: 300 };
const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
const clusters = (s: string): string[] => [...segmenter.segment(s)].map((x) => x.segment);

/** Bytes rich in what matters to a line reader: LF, CR, multi-byte UTF-8, invalid bytes. */
const lineBytes = fc
  .array(
    fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: 0, max: 255 }).map((b) => [b]) },
      { weight: 2, arbitrary: fc.constantFrom([0x0a], [0x0d], [0x0d, 0x0a]) },
      { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 3 }).map((s) => [...Buffer.from(s)]) },
    ),
    { maxLength: 60 },
  )
  .map((parts) => Buffer.from(parts.flat()));

/** `bytes` cut at arbitrary points (empty chunks included). */
function chunked(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  out.push(bytes.subarray(from));
  return out;
}

/** Feeds the chunks like the protocol does (a copy each: sockets never reuse chunk memory for us), then the client half-closes. */
function readLine(chunks: Buffer[], maxLine: number): LineResult {
  const reader = new LineReader(maxLine);
  for (const chunk of chunks) {
    const result = reader.push(Buffer.from(chunk));
    if (result !== null) return result;
  }
  return reader.end();
}

/** The model: the first line is everything before the first LF (one CR before it dropped), or all bytes at EOF. */
function modelLine(bytes: Buffer): Buffer {
  const nl = bytes.indexOf(0x0a);
  if (nl === -1) return bytes;
  return bytes.subarray(0, nl > 0 && bytes[nl - 1] === 0x0d ? nl - 1 : nl);
}

function modelReply(bytes: Buffer, maxLine: number): string {
  const line = modelLine(bytes);
  if (line.length > maxLine) return 'ERR line too long\n';
  if (!isUtf8(line)) return 'ERR invalid UTF-8\n';
  return clusters(line.toString('utf8')).reverse().join('') + '\n';
}

const same = (a: LineResult, b: LineResult): boolean =>
  a.kind === b.kind && (a.kind === 'too-long' || a.bytes.equals((b as { bytes: Buffer }).bytes));

test('property: any chunking of any bytes reads the same line as one chunk', () => {
  fc.assert(
    fc.property(lineBytes, fc.array(fc.nat(), { maxLength: 8 }), fc.integer({ min: 1, max: 40 }), (bytes, cuts, maxLine) => {
      const whole = readLine([bytes], maxLine);
      const pieces = readLine(chunked(bytes, cuts), maxLine);
      assert.ok(same(whole, pieces), `one chunk: ${JSON.stringify(whole)}, chunked: ${JSON.stringify(pieces)}`);
      const model = modelLine(bytes);
      if (model.length > maxLine) assert.equal(whole.kind, 'too-long');
      else assert.ok(whole.kind === 'line' && whole.bytes.equals(model));
    }),
    RUNS,
  );
});

test('property: the reply matches the model: reversed line, ERR invalid UTF-8 or ERR line too long, whatever the chunking', () => {
  fc.assert(
    fc.property(lineBytes, fc.array(fc.nat(), { maxLength: 8 }), fc.integer({ min: 1, max: 80 }), (bytes, cuts, maxLine) => {
      const expected = modelReply(bytes, maxLine);
      assert.equal(replyFor(readLine([bytes], maxLine)).toString('utf8'), expected);
      assert.equal(replyFor(readLine(chunked(bytes, cuts), maxLine)).toString('utf8'), expected);
    }),
    RUNS,
  );
});

test('property: a line longer than max-line always gets ERR line too long', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 100 }), fc.array(fc.nat(), { maxLength: 8 }), fc.boolean(), (maxLine, over, cuts, crlf) => {
      // Any bytes but LF, even invalid UTF-8: length wins over content.
      const line = Buffer.from(Array.from({ length: maxLine + over }, (_, i) => (i * 131 + maxLine) % 256).map((b) => (b === 0x0a ? 0x0b : b)));
      const bytes = Buffer.concat([line, Buffer.from(crlf ? '\r\n' : '\n')]);
      assert.equal(replyFor(readLine(chunked(bytes, cuts), maxLine)).toString(), 'ERR line too long\n');
      assert.equal(replyFor(readLine(chunked(line, cuts), maxLine)).toString(), 'ERR line too long\n');
    }),
    RUNS,
  );
});

/** Bytes that are invalid UTF-8: valid text with one corruption spliced in. */
const invalidUtf8 = fc
  .tuple(
    fc.string({ unit: 'grapheme', maxLength: 8 }),
    fc.constantFrom(
      [0xff], [0xfe], [0x80], [0xc0, 0x80], [0xc1, 0xbf], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], // stray, overlong, surrogate
      [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x82], [0xf0, 0x9f, 0x98], [0xc3], // > U+10FFFF, 5-byte, truncated
    ),
    fc.string({ unit: 'grapheme', maxLength: 8 }),
  )
  .map(([a, bad, b]) => Buffer.from([...Buffer.from(a), ...bad, ...Buffer.from(b)].map((x) => (x === 0x0a ? 0x20 : x))));

test('property: invalid UTF-8 is always refused, valid UTF-8 never', () => {
  fc.assert(
    fc.property(invalidUtf8, fc.array(fc.nat(), { maxLength: 6 }), (bytes, cuts) => {
      assert.equal(isUtf8(bytes), false);
      assert.equal(reverseUtf8(bytes), null);
      const line = Buffer.concat([bytes, Buffer.from('\n')]);
      assert.equal(replyFor(readLine(chunked(line, cuts), 1024)).toString(), 'ERR invalid UTF-8\n');
    }),
    RUNS,
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), (array) => {
      const bytes = Buffer.from(array);
      assert.equal(reverseUtf8(bytes) === null, !isUtf8(bytes));
    }),
    RUNS,
  );
});

/**
 * Whole grapheme clusters that stay whole in any order: a base character (ASCII, Latin-1,
 * Hangul syllables, CJK, emoji) with optional combining marks, or a fixed cluster (CRLF, flags,
 * ZWJ sequences, skin tones). Excluded on purpose: what joins its neighbour when reordered (a lone
 * CR before LF, an odd regional indicator, Hangul jamo, leading combining marks), for which
 * "reverse twice" cannot be the identity under any cluster-based reversal.
 */
const wholeCluster = fc.oneof(
  fc
    .tuple(
      fc.oneof(
        fc.integer({ min: 0x20, max: 0x7e }),
        fc.integer({ min: 0xc0, max: 0xff }),
        fc.integer({ min: 0xac00, max: 0xd7a3 }),
        fc.integer({ min: 0x4e00, max: 0x9fff }),
        fc.integer({ min: 0x1f600, max: 0x1f64f }),
      ),
      fc.array(fc.integer({ min: 0x300, max: 0x36f }), { maxLength: 2 }),
    )
    .map(([base, marks]) => String.fromCodePoint(base, ...marks)),
  fc.constantFrom('\r\n', '\n', '\t', '🇫🇷', '🇩🇪', '👨‍👩‍👧', '👍🏽', '🏳️‍🌈', 'e\u0301', '\u00e9', '\ufeff'),
);

test('property: reversing twice is the identity on text made of whole grapheme clusters', () => {
  fc.assert(
    fc.property(fc.array(wholeCluster, { maxLength: 30 }), (parts) => {
      const text = parts.join('');
      const once = reverseText(text);
      assert.deepEqual(clusters(once), clusters(text).reverse());
      assert.equal(reverseText(once), text);
      const bytes = Buffer.from(text, 'utf8');
      assert.ok((reverseUtf8(reverseUtf8(bytes) as Buffer) as Buffer).equals(bytes));
    }),
    RUNS,
  );
});

test('property: the ASCII fast path agrees with the grapheme segmenter', () => {
  fc.assert(
    fc.property(fc.string({ unit: fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c)), maxLength: 300 }), (text) => {
      const expected = clusters(text).reverse().join('');
      assert.equal(reverseText(text), expected);
      assert.equal((reverseUtf8(Buffer.from(text, 'latin1')) as Buffer).toString('latin1'), expected);
    }),
    RUNS,
  );
});
