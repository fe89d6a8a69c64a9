// The settings a control command runs with: the master's own (flags, env, config file), or, when
// the config file no longer loads (edited since the master started), whatever can still find the
// master: --pid / RAAS_PID, else the "pid" key read out of a JSON file that does not parse, with a
// warning. A master keeps running on the config it loaded; stopping it must not need a valid file.
// Runs in: the operator's shell (control commands).

import * as fs from 'node:fs';
import { coerceSetting } from '../config/coerce.js';
import { SettingError } from '../config/errors.js';
import { parseArgv, resolveSettings, settingsFrom } from '../config/load.js';
import { SETTINGS, type Settings } from '../config/settings.js';

export interface ControlInput {
  argv: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export interface ControlSettings {
  settings: Settings;
  /**
   * The master's name was given (flag, env or config file): only a master of that name is ours.
   * Otherwise the default is a first guess, and the name the master wrote in its status file counts.
   */
  nameGiven: boolean;
}

export async function controlSettings(input: ControlInput, warn: (line: string) => void): Promise<ControlSettings> {
  try {
    const { settings, sources } = await resolveSettings(input);
    return { settings, nameGiven: sources.name !== 'default' };
  } catch (err) {
    if (!(err instanceof SettingError)) throw err;
    const fallback = withoutConfigFile(input);
    if (fallback === null) throw err;
    warn(
      `${err.message}; finding the master through pid file ${fallback.pid} (${fallback.from}), ` +
        'with default timeouts and the name ' + JSON.stringify(fallback.settings.name),
    );
    return { settings: fallback.settings, nameGiven: fallback.nameGiven };
  }
}

/** Settings from flags and env alone, plus pid and name scraped from the config file; null if no pid. */
function withoutConfigFile(input: ControlInput): { settings: Settings; pid: string; from: string; nameGiven: boolean } | null {
  let resolved: ReturnType<typeof settingsFrom>;
  try {
    resolved = settingsFrom({ cwd: input.cwd, env: input.env, flags: parseArgv(input.argv).values });
  } catch {
    return null; // the flags or env are wrong themselves: the original error says which
  }
  const { settings, sources } = resolved;
  if (settings.config === null) return settings.pid === null ? null : { settings, pid: settings.pid, from: sources.pid, nameGiven: sources.name !== 'default' };
  const scraped = scrapeJson(settings.config);
  for (const key of ['pid', 'name'] as const) {
    const raw = scraped[key];
    if (sources[key] !== 'default' || raw === undefined) continue;
    try {
      (settings as unknown as Record<string, unknown>)[key] = coerceSetting(SETTINGS.find((s) => s.key === key)!, raw, input.cwd);
      sources[key] = 'file';
    } catch {
      // a bad value in a broken file: leave the default
    }
  }
  if (settings.pid === null) return null;
  const from = sources.pid === 'file' ? `read from the broken config file` : sources.pid === 'env' ? 'from the environment' : 'from the flags';
  return { settings, pid: settings.pid, from, nameGiven: sources.name !== 'default' };
}

/** String values of top-level-looking keys in a file that may not parse as JSON (best effort). */
function scrapeJson(file: string): Partial<Record<'pid' | 'name', string>> {
  if (!file.toLowerCase().endsWith('.json')) return {};
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return {};
  }
  const out: Partial<Record<'pid' | 'name', string>> = {};
  for (const key of ['pid', 'name'] as const) {
    const m = new RegExp(`"${key}"\\s*:\\s*("(?:[^"\\\\\\n]|\\\\.)*")`).exec(text);
    if (m === null) continue;
    try {
      out[key] = JSON.parse(m[1] as string) as string;
    } catch {
      // not a JSON string after all
    }
  }
  return out;
}
