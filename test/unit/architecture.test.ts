// Unit: the house plan. Every module of src/ stands on a floor; an import may go down or stay on
// its floor, never up, and the master and the worker runtime never import each other. The master
// keeps at most 12 files in its own room: the rest live in rooms named for what they are.
// Runs in: the test runner process (reads the TypeScript sources).

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from '../helpers/raas.js';

const SRC = path.join(REPO_ROOT, 'src');

/** Lowest first. A module belongs to the first floor with a prefix that matches its path under src/. */
const FLOORS: ReadonlyArray<{ name: string; prefixes: readonly string[] }> = [
  { name: 'base', prefixes: ['log.ts', 'signals.ts', 'exit-codes.ts', 'process-title.ts', 'node-http.ts', 'safe-file.ts', 'native.ts', 'errors.ts'] },
  { name: 'config', prefixes: ['config/'] },
  { name: 'contract between master and workers', prefixes: ['ipc.ts', 'log-grant.ts'] },
  { name: 'protocols', prefixes: ['protocols/'] },
  { name: 'processes', prefixes: ['master/', 'worker/'] },
  { name: 'admin listener', prefixes: ['admin/'] },
  { name: 'control commands', prefixes: ['control/'] },
  { name: 'entry points', prefixes: ['cli.ts', 'cli-main.ts', 'index.ts'] },
];

function floorOf(rel: string): number {
  const i = FLOORS.findIndex((f) => f.prefixes.some((p) => (p.endsWith('/') ? rel.startsWith(p) : rel === p)));
  assert.notEqual(i, -1, `src/${rel} stands on no floor: add it to FLOORS`);
  return i;
}

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return sources(full);
    return e.name.endsWith('.ts') ? [full] : [];
  });
}

/** Relative imports of a module (static, type-only and dynamic), as paths under src/. */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom|\bimport\(?)\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const target = path.resolve(path.dirname(file), m[1]!).replace(/\.js$/, '.ts');
    out.push(path.relative(SRC, target));
  }
  return out;
}

describe('architecture', () => {
  const files = sources(SRC).map((f) => path.relative(SRC, f));

  it('no import runs up a floor, and master/ and worker/ never import each other', () => {
    const wrong: string[] = [];
    for (const rel of files) {
      const from = floorOf(rel);
      for (const target of importsOf(path.join(SRC, rel))) {
        if (target.startsWith('..')) continue;
        const to = floorOf(target);
        const across = (rel.startsWith('master/') && target.startsWith('worker/')) || (rel.startsWith('worker/') && target.startsWith('master/'));
        if (to > from || across) wrong.push(`src/${rel} (${FLOORS[from]!.name}) imports src/${target} (${FLOORS[to]!.name})`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('the master knows nothing of protocols', () => {
    const wrong = files
      .filter((rel) => rel.startsWith('master/'))
      .flatMap((rel) => importsOf(path.join(SRC, rel)).filter((t) => t.startsWith('protocols/')).map((t) => `src/${rel} -> src/${t}`));
    assert.deepEqual(wrong, []);
  });

  it('at most 12 files stand directly in src/master/; the rest are in rooms', () => {
    const direct = fs.readdirSync(path.join(SRC, 'master'), { withFileTypes: true }).filter((e) => e.isFile() && e.name.endsWith('.ts'));
    assert.ok(direct.length <= 12, `${direct.length} files: ${direct.map((e) => e.name).join(' ')}`);
    const rooms = fs.readdirSync(path.join(SRC, 'master'), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
    assert.deepEqual(rooms, ['files', 'listeners', 'reload', 'stats', 'stop', 'supervision', 'upgrade', 'watch']);
  });
});
