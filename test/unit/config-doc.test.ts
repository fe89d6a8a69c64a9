// Checks that docs/CONFIG.md is exactly what renderConfigDoc() generates from the settings table,
// so the documentation can never drift from what the parser accepts.
// Runs in: the node:test runner process, from dist/test/unit/.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { renderConfigDoc } from '../../src/config/help.js';

// Compiled to dist/test/unit/, so the repository root is three levels up.
const DOC = fileURLToPath(new URL('../../../docs/CONFIG.md', import.meta.url));
const REGENERATE =
  "node -e \"import('./dist/src/config/help.js').then((h) => require('node:fs').writeFileSync('docs/CONFIG.md', h.renderConfigDoc()))\"";

it('docs/CONFIG.md matches renderConfigDoc()', () => {
  const committed = fs.existsSync(DOC) ? fs.readFileSync(DOC, 'utf8') : '';
  assert.equal(committed, renderConfigDoc(), `docs/CONFIG.md is stale; regenerate it after a build with:\n  ${REGENERATE}`);
});
