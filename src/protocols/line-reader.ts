// Incremental reader of the first line of a byte stream, fed whatever chunks the socket delivers.
// Pure: no I/O. Only the first line matters (one request per connection); later bytes are ignored.
// Runs in: workers.

const LF = 0x0a;
const CR = 0x0d;

export type LineResult = { kind: 'line'; bytes: Buffer } | { kind: 'too-long' };

const TOO_LONG: LineResult = Object.freeze({ kind: 'too-long' });

/**
 * The line ending at `nl` (the index of "\n" in `chunk`), without its "\n" or "\r\n", or too-long
 * when that leaves more than `maxLine` bytes. A subarray: nothing is copied.
 */
function lineBefore(chunk: Buffer, nl: number, maxLine: number): LineResult {
  const end = nl > 0 && chunk[nl - 1] === CR ? nl - 1 : nl;
  if (end > maxLine) return TOO_LONG;
  return { kind: 'line', bytes: chunk.subarray(0, end) };
}

export class LineReader {
  // Chunks of the line so far, none holding "\n"; kept as given (no copy until the line ends).
  private parts: Buffer[] = [];
  private size = 0;
  private result: LineResult | null = null;

  /** Bytes of the unfinished line held now (0 once there is a result): for the worker's buffer cap. */
  get buffered(): number {
    return this.result === null ? this.size : 0;
  }

  /** `maxLine`: the longest line accepted, in bytes, not counting its "\n" or "\r\n". */
  constructor(private readonly maxLine: number) {}

  /**
   * Feeds the next chunk. Returns the first line once it is complete, or too-long as soon as the
   * line is known to exceed maxLine; null while more bytes are needed, and after a result.
   */
  push(chunk: Buffer): LineResult | null {
    if (this.result !== null) return null;
    const nl = chunk.indexOf(LF);
    if (nl !== -1) {
      if (this.size === 0) return (this.result = lineBefore(chunk, nl, this.maxLine));
      return (this.result = this.joinWith(chunk.subarray(0, nl)));
    }
    if (chunk.length === 0) return null;
    this.size += chunk.length;
    // maxLine + 1 bytes are still fine if the last is "\r": it may be the start of "\r\n".
    if (
      this.size > this.maxLine + 1 ||
      (this.size === this.maxLine + 1 && chunk[chunk.length - 1] !== CR)
    ) {
      this.parts = [];
      return (this.result = TOO_LONG);
    }
    this.parts.push(chunk);
    return null;
  }

  /**
   * The client half-closed: the partial last line (possibly empty) is the line. A trailing "\r"
   * without "\n" stays part of it. After a result, returns that result again.
   */
  end(): LineResult {
    if (this.result !== null) return this.result;
    if (this.size > this.maxLine) return (this.result = TOO_LONG);
    return (this.result = this.joinWith(null));
  }

  // The buffered parts plus `tail` (the bytes before "\n", or null at end of input), chomped.
  private joinWith(tail: Buffer | null): LineResult {
    const parts = this.parts;
    this.parts = [];
    if (tail !== null && tail.length > 0) parts.push(tail);
    let length = this.size + (tail === null ? 0 : tail.length);
    if (tail !== null && length > 0) {
      // The "\r" of "\r\n" may sit at the end of an earlier chunk than the "\n".
      const last = parts[parts.length - 1] as Buffer;
      if (last[last.length - 1] === CR) length--;
    }
    if (length > this.maxLine) return TOO_LONG;
    if (parts.length === 1) return { kind: 'line', bytes: (parts[0] as Buffer).subarray(0, length) };
    return { kind: 'line', bytes: Buffer.concat(parts, length) };
  }
}
