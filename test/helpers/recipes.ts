// Reads what a recipe in examples/ says in its own words: the `raas ...` command line its header
// comment gives each instance (parsed with RAAS's own argv parser), and the balancer settings
// it must agree with. The balancer tests start RAAS with the recipe's values, and unit tests
// check the rules that tie them (keep-alive, lame duck), so a recipe cannot drift from its test.
// Runs in: the test runner process.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgv } from '../../src/config/load.js';
import { REPO_ROOT } from './raas.js';

export function recipeText(name: string): string {
  return fs.readFileSync(path.join(REPO_ROOT, 'examples', name), 'utf8');
}

/**
 * The `raas` command line in a recipe's comments ("#   raas -l ... \" and its continuation
 * lines), as argv and as parsed settings values.
 */
export function recipeRaasCommand(name: string): { argv: string[]; values: Record<string, unknown> } {
  const lines = recipeText(name).split('\n');
  const start = lines.findIndex((l) => /^#\s+raas\s/.test(l));
  if (start === -1) throw new Error(`examples/${name} gives no "raas ..." command line in its comments`);
  let command = '';
  for (let i = start; i < lines.length; i++) {
    const text = lines[i]!.replace(/^#\s*/, '').trim();
    command += ' ' + text.replace(/\\$/, '');
    if (!text.endsWith('\\')) break;
  }
  const argv = command.trim().split(/\s+/).slice(1);
  return { argv, values: parseArgv(argv).values as Record<string, unknown> };
}

/** A duration as nginx or haproxy write it (500ms, 20s, 1m; a bare number is seconds in nginx, ms in haproxy). */
export function durationSeconds(text: string, bare: 's' | 'ms'): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new Error(`not a duration: ${text}`);
  const unit = m[2] ?? bare;
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[unit]!;
}
