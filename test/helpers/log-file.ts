// Follows a log file that RAAS writes (`--log-file`), by path, with deadlines: the stderr capture
// of RaasProcess sees nothing when logs go to a file.
// Runs in: the test runner process.

import * as fs from 'node:fs';
import { parseLine } from '../../src/log.js';
import type { LogEntry } from './raas.js';

export interface LogFileContent {
  /** Complete lines (each ended by "\n"), without the "\n". */
  lines: string[];
  entries: LogEntry[];
  /** Text after the last "\n": a line still being written, or a torn one. */
  partial: string;
}

/** Reads a log file as it is now; a missing file reads as empty. */
export function readLogFile(file: string): LogFileContent {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { lines: [], entries: [], partial: '' };
    throw err;
  }
  const parts = text.split('\n');
  const partial = parts.pop() ?? '';
  return { lines: parts, entries: parts.map(parseLine), partial };
}

/**
 * Polls `file` until `predicate` holds for its complete lines, with a deadline. The error names
 * what was awaited and shows the end of the file.
 */
export async function waitForLog<T>(
  file: string,
  what: string,
  predicate: (content: LogFileContent) => T | undefined | false,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const content = readLogFile(file);
    const value = predicate(content);
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting in ${file} for ${what}; end of file:\n${content.lines.slice(-30).join('\n')}`);
    }
    // This helper's poll interval (not a sleep as synchronisation): the deadline above bounds it.
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Waits for the first entry (from index `after`) with this event and these field values. */
export function waitForLogEvent(
  file: string,
  event: string,
  fields: Record<string, string> = {},
  opts: { after?: number; timeoutMs?: number } = {},
): Promise<LogEntry> {
  return waitForLog(
    file,
    `event=${event} ${JSON.stringify(fields)}`,
    (c) =>
      c.entries
        .slice(opts.after ?? 0)
        .find((e) => e.event === event && Object.entries(fields).every(([k, v]) => e[k] === v)),
    opts.timeoutMs,
  );
}

/**
 * Lines that are not whole log lines: each must parse with parseLine into time, level and event,
 * start with `time=` and hold exactly one `time=` field (two lines glued together hold two).
 */
export function malformedLines(lines: readonly string[]): string[] {
  return lines.filter((line) => {
    const e = parseLine(line);
    const times = line.match(/(?:^| )time=/g)?.length ?? 0;
    return (
      !line.startsWith('time=') ||
      times !== 1 ||
      !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(e.time ?? '') ||
      !['debug', 'info', 'warn', 'error'].includes(e.level ?? '') ||
      !e.event
    );
  });
}
