// Runs a worker entry point directly, without a master: default settings and a hand-made boot
// config, so a test can give a worker any inherited fd and any claimed address.
// Runs in: the test runner process.

import { defaultOf } from '../../src/config/coerce.js';
import { SETTINGS, type Settings } from '../../src/config/settings.js';

/** Every setting at its default, as the master would resolve it with no flags. */
export async function resolveSettings(overrides: Partial<Settings> = {}): Promise<Settings> {
  const out: Record<string, unknown> = {};
  for (const spec of SETTINGS) out[spec.key] = defaultOf(spec);
  return { ...(out as unknown as Settings), ...overrides };
}
