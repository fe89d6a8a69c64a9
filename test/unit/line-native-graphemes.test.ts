// The C grapheme-cluster reversal of the native line path (native/line-fast.c) against the
// JavaScript one (src/protocols/reverse.ts, Intl.Segmenter): random lines from the characters
// the C subset covers, and from some it must leave to JavaScript. Skipped without the addon.
// Runs in: the test runner.

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { loadLineFast } from '../../src/protocols/line-native.js';
import { reverseUtf8 } from '../../src/protocols/reverse.js';

const addon = loadLineFast() as unknown as { reverseGraphemes(b: Buffer): Buffer | undefined } | null;

// Covered by C: ASCII, accents (precomposed and combining), Greek, Cyrillic, punctuation and
// currency, skin tones, ZWJ families, flags, lone regional indicators, lone ZWJ and selectors.
const COVERED = [
  'a', 'Z', ' ', '!', '~', 'é', 'e\u0301', 'ñ', 'ß', 'ø', 'Ω', 'ж', '€', '—', '…', '©', '®', '\u00a0',
  '👍', '👍🏽', '🏽', '🇫🇷', '🇩', '👨‍👩‍👧', '👩‍💻', '\u200d', '\ufe0f', '😀\ufe0f', 'a\u200d👍', '👍\u0301\u200d😀',
  '🙂\u200d\u0301🙂', '🦄', '🚀',
];
// Left to JavaScript: controls, CJK, Hangul, Devanagari, soft hyphen, symbols outside the subset.
const OTHERS = ['\t', '\r', '中', '한', 'क्ष', '\u00ad', '❤️', '\u2028', '\u{1F93B}', '𝄞'];

function randomLine(alphabet: string[], rand: () => number, max: number): string {
  let s = '';
  const n = Math.floor(rand() * max);
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
  return s;
}

function prng(seed: number): () => number {
  return () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
}

test('C reverses what it covers exactly as Intl.Segmenter does', { skip: addon === null && 'addon not built' }, () => {
  const rand = prng(7);
  for (let i = 0; i < 20000; i++) {
    const line = Buffer.from(randomLine(COVERED, rand, 12), 'utf8');
    const native = addon!.reverseGraphemes(line);
    assert.ok(native !== undefined, `C left ${JSON.stringify(line.toString())} to JavaScript`);
    assert.equal(native.toString('utf8'), reverseUtf8(line)!.toString('utf8'), JSON.stringify(line.toString()));
  }
});

test('C leaves other characters and invalid UTF-8 to JavaScript', { skip: addon === null && 'addon not built' }, () => {
  const rand = prng(11);
  for (let i = 0; i < 5000; i++) {
    const other = OTHERS[i % OTHERS.length]!;
    const line = Buffer.from(randomLine(COVERED, rand, 6) + other + randomLine(COVERED, rand, 6), 'utf8');
    const native = addon!.reverseGraphemes(line);
    // Either left to JavaScript, or (a character C covers after all) the same result.
    if (native !== undefined) assert.equal(native.toString(), reverseUtf8(line)!.toString(), JSON.stringify(line.toString()));
    else assert.ok(!/^[\x20-\x7e]*$/.test(line.toString()));
  }
  for (const bad of [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0x61, 0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80]]) {
    assert.equal(addon!.reverseGraphemes(Buffer.from(bad)), undefined);
  }
});
