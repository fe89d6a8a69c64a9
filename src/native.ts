// The one loader of RAAS's native addons (native/*.c, built by node-gyp at `npm ci` into
// build/Release, against stable N-API: one build serves every Node line). One rule for all of
// them: an addon serves unless it was not built (no compiler at install) or RAAS_NATIVE=0 asks
// for the TypeScript paths; the caller then takes its own fallback. The master logs once, at
// start, which path serves for each (event=native-addons).
// Runs in: master and workers.

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { errorMessage } from './errors.js';

export type AddonName = 'reaper' | 'fdutil' | 'line_fast';
export const ADDONS: readonly AddonName[] = ['reaper', 'fdutil', 'line_fast'];

/** dist/src/native.js -> <package>/build/Release/ */
const BUILD_DIR = new URL('../../build/Release/', import.meta.url);
const loaded = new Map<AddonName, { addon: unknown; state: string }>();

/** The addon's exports, or null: then the caller's TypeScript fallback serves. Loaded once per process. */
export function loadAddon<T>(name: AddonName): T | null {
  let entry = loaded.get(name);
  if (entry === undefined) {
    entry = tryLoad(name);
    loaded.set(name, entry);
  }
  return entry.addon as T | null;
}

function tryLoad(name: AddonName): { addon: unknown; state: string } {
  if (process.env['RAAS_NATIVE'] === '0') return { addon: null, state: 'off (RAAS_NATIVE=0)' };
  try {
    return { addon: createRequire(import.meta.url)(fileURLToPath(new URL(`${name}.node`, BUILD_DIR))), state: 'native' };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { addon: null, state: code === 'MODULE_NOT_FOUND' ? 'fallback (not built)' : `fallback (${errorMessage(err).split('\n')[0]})` };
  }
}

/** Which path serves for each addon, as the master's start line says it. */
export function nativePaths(): Record<AddonName, string> {
  const out = {} as Record<AddonName, string>;
  for (const name of ADDONS) {
    loadAddon(name);
    out[name] = loaded.get(name)!.state;
  }
  return out;
}
