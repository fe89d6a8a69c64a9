// Unit tests of grapheme-cluster reversal (src/protocols/reverse.ts).
// Runs in: the test runner (no server).

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { reverseText, reverseUtf8 } from '../../src/protocols/reverse.js';

// Expected values are written out by hand, cluster by cluster: never derived from the code under test.
const CASES: Array<[name: string, input: string, expected: string]> = [
  ['empty', '', ''],
  ['one char', 'a', 'a'],
  ['ascii', 'hello', 'olleh'],
  ['ascii with spaces and punctuation', 'Hello, World!', '!dlroW ,olleH'],
  ['control bytes', 'a\x00b\tc\x7f', '\x7fc\tb\x00a'],
  ['lone CR stays in place', 'a\rb', 'b\ra'],
  ['CRLF is one cluster', 'a\r\nb', 'b\r\na'],
  ['precomposed accents', 'héllo wörld', 'dlröw olléh'],
  ['combining acute accent', 'cafe\u0301', 'e\u0301fac'],
  ['several combining marks', 'xa\u0301\u0323y', 'ya\u0301\u0323x'],
  ['ZWJ family', 'a👨‍👩‍👧b', 'b👨‍👩‍👧a'],
  ['skin tone', 'ok👍🏽!', '!👍🏽ko'],
  ['two flags', '🇫🇷🇩🇪', '🇩🇪🇫🇷'],
  ['flags and text', 'x🇫🇷y🇩🇪z', 'z🇩🇪y🇫🇷x'],
  ['astral without clusters', 'a😀b😁', '😁b😀a'],
  ['CJK', '日本語', '語本日'],
  ['Hangul jamo sequence is one cluster', 'x\u1100\u1161\u11a8y', 'y\u1100\u1161\u11a8x'],
  ['variation selector', 'a\u2764\ufe0fb', 'b\u2764\ufe0fa'],
  ['mixed', 'e\u0301👨‍👩‍👧 🇫🇷ab👍🏽', '👍🏽ba🇫🇷 👨‍👩‍👧e\u0301'],
  ['leading BOM is content', '\ufeffab', 'ba\ufeff'],
];

for (const [name, input, expected] of CASES) {
  test(`reverseText: ${name}`, () => {
    assert.equal(reverseText(input), expected);
  });

  test(`reverseUtf8: ${name}`, () => {
    const out = reverseUtf8(Buffer.from(input, 'utf8'));
    assert.ok(out !== null);
    assert.equal(out.toString('utf8'), expected);
    const withNewline = reverseUtf8(Buffer.from(input, 'utf8'), true);
    assert.ok(withNewline !== null);
    assert.equal(withNewline.toString('utf8'), expected + '\n');
  });
}

test('reverseText: reversing twice gives back the input', () => {
  for (const [, input] of CASES) assert.equal(reverseText(reverseText(input)), input);
});

test('reverseUtf8: long ASCII (native reverse path) matches a hand-built reversal', () => {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let input = '';
  let expected = '';
  for (let i = 0; i < 5000; i++) {
    const c = alphabet[i % alphabet.length] as string;
    input += c;
    expected = c + expected;
  }
  for (const len of [255, 256, 257, 5000]) {
    const out = reverseUtf8(Buffer.from(input.slice(0, len)), true);
    assert.ok(out !== null);
    assert.equal(out.length, len + 1);
    assert.equal(out.toString('latin1'), expected.slice(5000 - len) + '\n');
  }
});

test('reverseUtf8: long ASCII with CRLF keeps CRLF together', () => {
  const input = 'ab\r\n'.repeat(100);
  const out = reverseUtf8(Buffer.from(input));
  assert.ok(out !== null);
  assert.equal(out.toString('latin1'), '\r\nba'.repeat(100));
});

test('reverseUtf8: does not modify its input', () => {
  const input = Buffer.from('x'.repeat(300) + 'hello');
  const copy = Buffer.from(input);
  reverseUtf8(input, true);
  reverseUtf8(input.subarray(0, 5), true);
  assert.deepEqual(input, copy);
});

test('reverseUtf8: works on a subarray with an offset', () => {
  const whole = Buffer.from('XXhelloYY');
  const out = reverseUtf8(whole.subarray(2, 7), true);
  assert.ok(out !== null);
  assert.equal(out.toString(), 'olleh\n');
});

const INVALID: Array<[name: string, bytes: number[]]> = [
  ['0xff', [0xff]],
  ['0xfe in text', [0x61, 0xfe, 0x62]],
  ['overlong NUL', [0xc0, 0x80]],
  ['overlong slash', [0xe0, 0x80, 0xaf]],
  ['truncated 2-byte', [0x61, 0xc3]],
  ['truncated 3-byte', [0xe2, 0x82]],
  ['truncated 4-byte', [0xf0, 0x9f, 0x98]],
  ['lone continuation byte', [0x80]],
  ['encoded high surrogate', [0xed, 0xa0, 0x80]],
  ['encoded low surrogate', [0xed, 0xb0, 0x80]],
  ['beyond U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ['5-byte form', [0xf8, 0x88, 0x80, 0x80, 0x80]],
];

for (const [name, bytes] of INVALID) {
  test(`reverseUtf8: invalid UTF-8 (${name}) is rejected`, () => {
    assert.equal(reverseUtf8(Buffer.from(bytes)), null);
    assert.equal(reverseUtf8(Buffer.from(bytes), true), null);
  });
}

test('reverseUtf8: the largest valid code points are accepted', () => {
  const out = reverseUtf8(Buffer.from([0x61, 0xf4, 0x8f, 0xbf, 0xbf, 0xef, 0xbf, 0xbd]));
  assert.ok(out !== null);
  assert.deepEqual([...out], [0xef, 0xbf, 0xbd, 0xf4, 0x8f, 0xbf, 0xbf, 0x61]);
});
