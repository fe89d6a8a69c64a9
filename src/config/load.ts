// Turns argv + environment + an optional config file into validated Settings (and master hooks).
// Runs in: the master (at boot and again on every HUP) and control commands.
//
// Precedence: defaults < config file < environment < flags. Every value found in any layer is
// validated, even one a higher layer overrides: nothing an operator wrote is silently ignored, and a
// config file that is wrong today does not wait for the day its overriding flag is dropped.

import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { coerceSetting, defaultOf } from './coerce.js';
import { SettingError } from './errors.js';
import { SETTINGS, checkSettingCombinations, type SettingSpec, type Settings } from './settings.js';
import { checkTlsSettings } from './tls-files.js';
import { readEnvFiles, type EnvValues } from './env-file.js';
import { checkAccountSettings, checkMasterMayDrop } from './accounts.js';
import { checkAppFile } from './app-file.js';
import { errorMessage } from '../errors.js';

export type SettingSource = 'default' | 'file' | 'env' | 'flag';

export interface HookWorker {
  slot: number;
  pid?: number;
  generation: number;
}
export interface WorkerExit {
  code: number | null;
  signal: string | null;
}
/** Functions a JS config file may export beside its settings, for the master to call. */
export interface MasterHooks {
  beforeSpawn?: (worker: HookWorker) => unknown;
  afterWorkerReady?: (worker: HookWorker) => unknown;
  afterWorkerExit?: (worker: HookWorker, exit: WorkerExit) => unknown;
}
export const HOOK_NAMES: readonly (keyof MasterHooks)[] = ['beforeSpawn', 'afterWorkerReady', 'afterWorkerExit'];

export interface ResolvedConfig {
  settings: Settings;
  hooks: MasterHooks;
  sources: Record<keyof Settings, SettingSource>;
  /** The `env-file` variables for the workers, read afresh with every resolve (absent: none). */
  workerEnv?: EnvValues;
}

export type FlagValues = Partial<Record<keyof Settings, string | string[]>>;
export interface ParsedArgv {
  values: FlagValues;
  /** Not settings: subcommands and their arguments (`raas scale 4`). */
  positionals: string[];
  help: boolean;
  version: boolean;
}
export interface Layers {
  cwd: string;
  /** A config file's default export or parsed JSON, keys kebab-case or camelCase; hooks are skipped. */
  file?: { path: string; values: Record<string, unknown> };
  env?: Readonly<Record<string, string | undefined>>;
  flags?: FlagValues;
}

const BY_FLAG = new Map<string, SettingSpec>();
const BY_CONFIG_KEY = new Map<string, SettingSpec>();
for (const spec of SETTINGS) {
  BY_FLAG.set(`--${spec.name}`, spec);
  if (spec.short !== undefined) BY_FLAG.set(spec.short, spec);
  BY_CONFIG_KEY.set(spec.name, spec);
  BY_CONFIG_KEY.set(spec.key, spec);
}
const HELP_FLAGS = ['-h', '--help'];
const VERSION_FLAGS = ['-v', '--version'];

const CONTROL_FLAGS: readonly string[] = ['--json'];

/** Splits argv into setting values (strings, untouched), positionals and the help/version flags. */
export function parseArgv(argv: readonly string[]): ParsedArgv {
  const out: ParsedArgv = { values: {}, positionals: [], help: false, version: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    // Control commands' own flags (`raas status --json`) travel with the command's arguments.
    if (!arg.startsWith('-') || arg === '-' || CONTROL_FLAGS.includes(arg)) {
      out.positionals.push(arg);
      continue;
    }
    if (HELP_FLAGS.includes(arg) || VERSION_FLAGS.includes(arg)) {
      out[HELP_FLAGS.includes(arg) ? 'help' : 'version'] = true;
      continue;
    }
    // `--name=value`, `--name value`, `-w4`, `-w 4`
    const long = arg.startsWith('--');
    const cut = long ? arg.indexOf('=') : 2;
    const flag = long && cut === -1 ? arg : arg.slice(0, cut);
    const inline = long ? (cut === -1 ? undefined : arg.slice(cut + 1)) : arg.length > 2 ? arg.slice(2) : undefined;
    const spec = BY_FLAG.get(flag);
    if (spec === undefined) {
      const hint = long ? closest(flag.slice(2), SETTINGS.map((s) => s.name)) : undefined;
      throw new SettingError(flag, arg, 'unknown flag', {
        message: `unknown flag ${flag}${hint === undefined ? '' : ` (did you mean --${hint}?)`}; see raas --help`,
      });
    }
    const next = argv[i + 1];
    const standsAlone = inline === undefined && spec.optionalValue !== undefined && (next === undefined || next.startsWith('-'));
    const value = standsAlone ? spec.optionalValue : (inline ?? argv[++i]);
    if (value === undefined) {
      throw new SettingError(spec.name, undefined, 'missing value', {
        message: `flag ${flag} needs a value for setting "${spec.name}": ${flag} ${spec.metavar}`,
      });
    }
    if (spec.kind === 'list') {
      // A list given by flags replaces the file's or the environment's list rather than extending it.
      const list = out.values[spec.key];
      out.values[spec.key] = Array.isArray(list) ? [...list, value] : [value];
    } else {
      out.values[spec.key] = value;
    }
  }
  return out;
}

/**
 * Layers the sources, validates every value present in any of them, and builds Settings. Pure, but
 * for reading the TLS files of https:// listeners (a bad pair is refused here, not in every worker)
 * and looking up the user and group accounts.
 */
export function settingsFrom(layers: Layers): { settings: Settings; sources: Record<keyof Settings, SettingSource> } {
  const fileValues = layers.file === undefined ? new Map<SettingSpec, unknown>() : configEntries(layers.file);
  const settings: Record<string, unknown> = {};
  const sources: Record<string, SettingSource> = {};
  for (const spec of SETTINGS) {
    // Highest precedence first; the first candidate wins, but all are checked.
    const candidates: { source: SettingSource; origin: string; raw: unknown }[] = [];
    const flag = layers.flags?.[spec.key];
    if (flag !== undefined) candidates.push({ source: 'flag', origin: `flag --${spec.name}`, raw: flag });
    for (const name of spec.env) {
      const raw = layers.env?.[name];
      // An empty variable counts as unset: `RAAS_WORKERS= raas` is how a shell unsets for one command.
      if (raw !== undefined && raw !== '') candidates.push({ source: 'env', origin: `environment variable ${name}`, raw });
    }
    if (fileValues.has(spec)) {
      candidates.push({ source: 'file', origin: `config file ${layers.file?.path}`, raw: fileValues.get(spec) });
    }
    candidates.push({ source: 'default', origin: 'the default', raw: defaultOf(spec) });
    const values = candidates.map(({ raw, origin }) => {
      try {
        return coerceSetting(spec, raw, layers.cwd);
      } catch (err) {
        throw err instanceof SettingError ? err.withOrigin(origin) : err;
      }
    });
    settings[spec.key] = values[0];
    sources[spec.key] = (candidates[0] as { source: SettingSource }).source;
  }
  checkSettingCombinations(settings as unknown as Settings);
  checkTlsSettings(settings as unknown as Settings);
  checkAccountSettings(settings as unknown as Settings);
  return { settings: settings as unknown as Settings, sources: sources as Record<keyof Settings, SettingSource> };
}

/** Maps a config object's keys (kebab or camel) to settings, refusing unknown ones. */
function configEntries(file: { path: string; values: Record<string, unknown> }): Map<SettingSpec, unknown> {
  const out = new Map<SettingSpec, unknown>();
  for (const [key, raw] of Object.entries(file.values)) {
    if ((HOOK_NAMES as readonly string[]).includes(key)) continue;
    const spec = BY_CONFIG_KEY.get(key);
    if (spec === undefined) {
      const hint = closest(key, [...BY_CONFIG_KEY.keys(), ...HOOK_NAMES]);
      throw new SettingError(key, raw, 'unknown setting', {
        message: `unknown setting "${key}" in config file ${file.path}${hint === undefined ? '' : ` (did you mean "${hint}"?)`}`,
      });
    }
    if (spec.key === 'config') {
      throw new SettingError(key, raw, 'not settable here', {
        message: `setting "${key}" cannot be set inside a config file (${file.path}); use --${spec.name} or ${spec.env.join(' or ')}`,
      });
    }
    if (out.has(spec)) {
      throw new SettingError(spec.name, raw, 'duplicate', {
        message: `setting "${spec.name}" is given twice in config file ${file.path} (as kebab-case and camelCase)`,
      });
    }
    out.set(spec, raw);
  }
  return out;
}

/** Picks the hook functions out of a config object. */
export function hooksFrom(file: { path: string; values: Record<string, unknown> }): MasterHooks {
  const hooks: Record<string, unknown> = {};
  for (const name of HOOK_NAMES) {
    const hook = file.values[name];
    if (hook === undefined) continue;
    if (typeof hook !== 'function') {
      throw new SettingError(name, hook, `expected a function, in config file ${file.path}; hooks need a .js/.mjs/.cjs config`);
    }
    hooks[name] = hook;
  }
  return hooks as MasterHooks;
}

let importCounter = 0;
const requireCache = createRequire(import.meta.url).cache;

/**
 * Reads a config file: JSON, or a JS module whose default export is an object. Every call reads the
 * file afresh (a HUP must see the edited file). Modules the config itself imports are not reloaded,
 * and each reload of a JS config leaves its previous version in the module cache, a few KiB per HUP.
 */
export async function loadConfigFile(file: string): Promise<Record<string, unknown>> {
  const refuse = (why: string, cause?: unknown): SettingError => new SettingError('config', file, why, { cause });
  const ext = path.extname(file).toLowerCase();
  let real: string;
  try {
    real = fs.realpathSync(file);
  } catch (err) {
    throw refuse(`cannot read it: ${errorMessage(err)}`, err);
  }
  let value: unknown;
  if (ext === '.json') {
    let text: string;
    try {
      text = await fs.promises.readFile(real, 'utf8');
    } catch (err) {
      throw refuse(`cannot read it: ${errorMessage(err)}`, err);
    }
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw refuse(`not valid JSON: ${errorMessage(err)}`, err);
    }
  } else if (ext === '.js' || ext === '.mjs' || ext === '.cjs') {
    // ESM caches by URL, so a new query string re-evaluates the file; CommonJS caches by path,
    // which import() of a .cjs (or a .js in a CommonJS package) goes through too.
    delete requireCache[real];
    const url = `${pathToFileURL(real).href}?v=${++importCounter}-${Date.now()}`;
    try {
      value = ((await import(url)) as { default?: unknown }).default;
    } catch (err) {
      throw refuse(`failed to load: ${errorMessage(err)}`, err);
    }
  } else {
    throw refuse('expected a .json, .js, .mjs or .cjs file');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw refuse(`expected ${ext === '.json' ? 'a JSON object' : 'a default export that is an object'}, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`);
  }
  return value as Record<string, unknown>;
}

/**
 * The whole pipeline: flags and env name the config file, then all layers are merged and checked.
 * `master`: the settings a master will run with, which adds the checks only a master needs (user
 * and group need root; the app file exists and this Node can run it), not a control command
 * reading the same config.
 */
export async function resolveSettings(input: {
  argv: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  master?: boolean;
}): Promise<ResolvedConfig> {
  const flags = parseArgv(input.argv).values;
  const { cwd, env } = input;
  const withoutFile = settingsFrom({ cwd, env, flags });
  const configPath = withoutFile.settings.config;
  const resolved =
    configPath === null
      ? { ...withoutFile, hooks: {} }
      : await (async () => {
          const file = { path: configPath, values: await loadConfigFile(configPath) };
          return { ...settingsFrom({ cwd, env, flags, file }), hooks: hooksFrom(file) };
        })();
  if (input.master !== true) return resolved;
  checkMasterMayDrop(resolved.settings);
  // A control command reading the same config has no use for the workers' variables, and must
  // not fail because an env file is unreadable to it.
  const workerEnv = readEnvFiles(resolved.settings.envFile, cwd);
  // The workers' environment: the env files' variables under the master's own (which win).
  checkAppFile(resolved.settings, { ...workerEnv, ...env });
  return { ...resolved, workerEnv };
}

/** The candidate nearest to `word` by edit distance, if it is near enough to be a typo. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 4)) + 1;
  for (const candidate of candidates) {
    const d = distance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      next[j] = Math.min((row[j] as number) + 1, (next[j - 1] as number) + 1, (row[j - 1] as number) + cost);
    }
    row = next;
  }
  return row[b.length] as number;
}
