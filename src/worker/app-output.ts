// The app's stdout and stderr as RAAS log lines (`app-output`, default `log`): every line the app
// writes through process.stdout / process.stderr (console.log, console.error, Node's warnings)
// becomes one `event=app-output stream=stdout|stderr line="..."` line of this worker's Logger, so
// it names the worker's slot, pid and generation, reaches `log-file` (or stderr) and follows it
// across USR1 reopens and HUP changes.
// Runs in: workers, installed before the app loads.
//
// Why in the worker and not through pipes read by the master (measured: docs/DESIGN.md#app-output):
// a master reading every worker's pipes spends its own loop on the app's chattiest moments, and a
// master that falls behind fills the pipes until the app blocks anyway. Here each worker pays for
// its own lines with one synchronous write(2) each, as RAAS's own lines do, and the master's loop
// never sees them (Unicorn's workers append to the log themselves too).
//
// RAAS's own lines are never wrapped twice: the Logger writes to its fd with fs.writeSync, not
// through process.stderr. What the app's subprocesses write to the fds they inherit goes out raw.

import type { Logger } from '../log.js';
import { LOG } from '../log.js';

/** Longer lines are cut into pieces of at most this many bytes (`part=N`, `more=true` but the last). */
export const MAX_APP_LINE_BYTES = 16 * 1024;

type WriteCallback = (err?: Error | null) => void;

/** Splits one stream's bytes into lines; a line cut for length goes out in numbered parts. */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Pieces of the current line already emitted because it outgrew MAX_APP_LINE_BYTES. */
  private parts = 0;

  constructor(
    private readonly emit: (line: string, extra: { part?: number; more?: boolean; newline?: boolean }) => void,
    private readonly maxBytes = MAX_APP_LINE_BYTES,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl !== -1; nl = chunk.indexOf(10, start)) {
      this.append(chunk.subarray(start, nl));
      this.end(true);
      start = nl + 1;
    }
    if (start < chunk.length) this.append(chunk.subarray(start));
  }

  /** At exit: the line still without its newline goes out, marked `newline=false`. */
  flush(): void {
    if (this.pendingBytes > 0 || this.parts > 0) this.end(false);
  }

  private append(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    while (this.pendingBytes > this.maxBytes) {
      const all = Buffer.concat(this.pending, this.pendingBytes);
      const cut = utf8Boundary(all, this.maxBytes);
      this.parts++;
      this.emit(all.subarray(0, cut).toString('utf8'), { part: this.parts, more: true });
      const rest = all.subarray(cut);
      this.pending = rest.length > 0 ? [rest] : [];
      this.pendingBytes = rest.length;
    }
  }

  private end(newline: boolean): void {
    const line = this.pendingBytes === 0 ? '' : Buffer.concat(this.pending, this.pendingBytes).toString('utf8');
    const extra: { part?: number; newline?: boolean } = {};
    if (this.parts > 0) extra.part = this.parts + 1;
    if (!newline) extra.newline = false;
    this.pending = [];
    this.pendingBytes = 0;
    this.parts = 0;
    // A trailing CR (CRLF line ends) is part of the line ending, not of the text.
    this.emit(line.endsWith('\r') ? line.slice(0, -1) : line, extra);
  }
}

/** The largest cut at or below `max` that does not split a UTF-8 sequence. */
function utf8Boundary(bytes: Buffer, max: number): number {
  let cut = max;
  // Continuation bytes are 10xxxxxx: step back to the start of the character.
  while (cut > max - 4 && cut > 0 && ((bytes[cut] ?? 0) & 0xc0) === 0x80) cut--;
  return cut > 0 ? cut : max;
}

function toBuffer(chunk: unknown, encoding: unknown): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, typeof encoding === 'string' && Buffer.isEncoding(encoding) ? encoding : 'utf8');
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return Buffer.from(String(chunk));
}

/**
 * Replaces process.stdout.write and process.stderr.write with line framing into `log`. Lines are
 * written synchronously, whatever the fds are (file, pipe, tty): console.log's ordering with
 * RAAS's own lines is kept, and nothing waits in memory for a slow reader. Idempotent.
 */
export function captureAppOutput(log: Logger): void {
  if (installed) return;
  installed = true;
  const splitters: LineSplitter[] = [];
  for (const [name, stream] of [
    ['stdout', process.stdout],
    ['stderr', process.stderr],
  ] as const) {
    const level = name === 'stdout' ? 'info' : 'warn';
    const splitter = new LineSplitter((line, extra) => log[level](LOG.APP_OUTPUT, { stream: name, ...extra, line }));
    splitters.push(splitter);
    const write = (chunk: unknown, encoding?: unknown, callback?: unknown): boolean => {
      const cb = (typeof encoding === 'function' ? encoding : callback) as WriteCallback | undefined;
      splitter.push(toBuffer(chunk, encoding));
      if (typeof cb === 'function') process.nextTick(cb, null);
      return true;
    };
    stream.write = write as typeof stream.write;
  }
  // process.exit() and a natural end both pass here; a SIGKILL loses what has no newline yet.
  process.on('exit', () => {
    for (const splitter of splitters) splitter.flush();
  });
}
let installed = false;
