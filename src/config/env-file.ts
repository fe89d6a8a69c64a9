// `env-file`: variables for the workers from dotenv files, read by the master at start and again
// on every HUP (so an edited file reaches the next generation), on every Node line.
// Runs in: master.
//
// The text is parsed by Node's own util.parseEnv where Node has it (20.12+, 21.7+); the fallback
// below follows the same rules for the Node 20 releases before it, and a unit test holds the two
// to the same answers. As with Node's --env-file and dotenv, a variable already in the master's
// environment wins over a file's value, and a later file wins over an earlier one.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as util from 'node:util';
import { errorMessage } from '../errors.js';
import { SettingError } from './errors.js';

export type EnvValues = Readonly<Record<string, string>>;

/** Every file's variables, later files over earlier ones; a file that cannot be read or is no text is refused naming the setting. */
export function readEnvFiles(files: readonly string[], cwd: string): EnvValues {
  const values: Record<string, string> = {};
  for (const file of files) {
    const full = path.resolve(cwd, file);
    let text: string;
    try {
      text = fs.readFileSync(full, 'utf8');
    } catch (err) {
      throw new SettingError('env-file', file, `a readable file (${errorMessage(err)})`);
    }
    if (text.includes('\0')) throw new SettingError('env-file', file, 'a text file of KEY=VALUE lines (it holds NUL bytes)');
    Object.assign(values, parseEnvText(text));
  }
  return Object.freeze(values);
}

type ParseEnv = (text: string) => Record<string, string>;
const nodeParseEnv = (util as unknown as { parseEnv?: ParseEnv }).parseEnv;

/** KEY=VALUE lines as Node's --env-file reads them. */
export function parseEnvText(text: string): Record<string, string> {
  return nodeParseEnv ? { ...nodeParseEnv(text) } : parseDotenv(text);
}

/** Whether Node's own parser serves here (else the fallback below). */
export const usesNodeParseEnv = nodeParseEnv !== undefined;

/**
 * The fallback parser, for Node releases without util.parseEnv; the rules of Node 26's:
 * `KEY=VALUE` lines, an optional `export `, `#` comments (whole lines, or after an unquoted
 * value); a value in '...', "..." or `...` may span lines, and only "..." turns \n into a newline;
 * an unclosed quote is kept as written; a later line for the same key wins.
 */
export function parseDotenv(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (/^export\s/.test(line)) line = line.slice('export'.length).trim();
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq).trim();
    let value = line.slice(eq + 1).trim();
    const quote = value[0];
    if (quote === '"' || quote === "'" || quote === '`') {
      // The closing quote may be on this line or a later one.
      let rest = value.slice(1);
      let close = rest.indexOf(quote);
      let j = i;
      while (close === -1 && j + 1 < lines.length) {
        j += 1;
        rest += `\n${lines[j]}`;
        close = rest.indexOf(quote);
      }
      if (close !== -1) {
        i = j;
        value = rest.slice(0, close);
        if (quote === '"') value = value.replace(/\\n/g, '\n');
        values[key] = value;
        continue;
      }
      // Unclosed: the line as written.
    }
    const hash = value.indexOf('#');
    values[key] = (hash === -1 ? value : value.slice(0, hash)).trim();
  }
  return values;
}
