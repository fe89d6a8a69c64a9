// Reversal of text by user-perceived character (grapheme cluster), for the line protocol and
// POST /reverse: "e\u0301", emoji ZWJ sequences, skin tones and flags survive reversal intact.
// Pure: no I/O, no state beyond two reusable module-level objects.
// Runs in: workers.

import { isAscii } from 'node:buffer';

// Both are stateless between calls (no `stream: true`), so one instance serves every request.
// The segmenter is created on first use: it maps about 2.5 MiB of ICU data (RSS), and a worker
// whose lines are reversed in C (line-native.ts) may never need it.
let segmenter: Intl.Segmenter | undefined;
// ignoreBOM: a leading U+FEFF is part of the client's text and must be reversed, not swallowed.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const ASCII = /^[\x00-\x7f]*$/;
const CR = 0x0d;
const LF = 0x0a;

/** `s` reversed grapheme cluster by grapheme cluster. */
export function reverseText(s: string): string {
  if (ASCII.test(s)) return reverseAsciiText(s);
  const clusters: string[] = [];
  segmenter ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' });
  for (const { segment } of segmenter.segment(s)) clusters.push(segment);
  return clusters.reverse().join('');
}

// In ASCII the only cluster of more than one character is "\r\n" (UAX #29, GB3).
function reverseAsciiText(s: string): string {
  let out = '';
  for (let i = s.length - 1; i >= 0; i--) {
    if (s.charCodeAt(i) === LF && i > 0 && s.charCodeAt(i - 1) === CR) {
      out += '\r\n';
      i--;
    } else {
      out += s[i];
    }
  }
  return out;
}

/**
 * The UTF-8 text in `bytes` reversed by grapheme cluster, as UTF-8, followed by "\n" when
 * `newline` is set (so the line protocol builds its whole reply in one buffer).
 * Returns null when `bytes` is not valid UTF-8 (overlong forms, encoded surrogates, truncated
 * sequences, bytes 0xf8-0xff...).
 */
export function reverseUtf8(bytes: Buffer, newline = false): Buffer | null {
  if (isAscii(bytes)) return reverseAsciiBytes(bytes, newline);
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return null;
  }
  const reversed = reverseText(text);
  return Buffer.from(newline ? reversed + '\n' : reversed, 'utf8');
}

// Below this many bytes a JS loop beats copy + native reverse (measured on Node 20: a 64 KiB
// line reverses ~3x faster natively, a 5-byte one ~3x slower).
const NATIVE_REVERSE_MIN = 256;

// ASCII bytes are their own characters: reverse them straight into the reply buffer, no string.
function reverseAsciiBytes(bytes: Buffer, newline: boolean): Buffer {
  const n = bytes.length;
  const out = Buffer.allocUnsafe(newline ? n + 1 : n);
  if (n >= NATIVE_REVERSE_MIN && bytes.indexOf(LF) === -1) {
    bytes.copy(out);
    out.subarray(0, n).reverse();
    if (newline) out[n] = LF;
    return out;
  }
  let j = 0;
  for (let i = n - 1; i >= 0; i--) {
    const b = bytes[i] as number;
    if (b === LF && i > 0 && bytes[i - 1] === CR) {
      out[j++] = CR;
      out[j++] = LF;
      i--;
    } else {
      out[j++] = b;
    }
  }
  if (newline) out[j] = LF;
  return out;
}
