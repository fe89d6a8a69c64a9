// Turns one raw setting value (a string from a flag or env var, or whatever JSON / a JS config
// holds) into the typed value its SETTINGS entry describes, or throws a SettingError.
// Runs in: master and control commands.
//
// Rules are per kind, never per setting: a new setting gets validation by picking a kind and bounds.
// The exceptions are `listen`, whose items must each be a valid address, and `worker-node-args`,
// whose items must be Node flags (ITEM_PARSERS).

import * as path from 'node:path';
import { WATCH_APP_DIR } from './settings.js';
import { normalizeCidr } from './cidr.js';
import { SettingError } from './errors.js';
import { parseListenAddress } from './listen-address.js';
import { parseNodeArgsItem } from './node-args.js';
import { parseAdminAddress } from './admin-address.js';
import type { SettingKind, SettingSpec, Settings } from './settings.js';
import { errorMessage } from '../errors.js';

const KiB = 1024;
const UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: KiB, kb: KiB, kib: KiB,
  m: KiB ** 2, mb: KiB ** 2, mib: KiB ** 2,
  g: KiB ** 3, gb: KiB ** 3, gib: KiB ** 3,
};

// setTimeout() fires at once (with a warning) for delays past 2^31-1 ms, so a "timeout" beyond it
// would do the opposite of what was asked; every seconds setting is capped there.
const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

const EXPECTED: Record<SettingKind, (spec: SettingSpec) => string> = {
  int: () => 'expected a whole number',
  seconds: () => 'expected a number of seconds, e.g. 30 or 2.5',
  bytes: () => 'expected a number of bytes, e.g. 65536 or 64KiB',
  string: () => 'expected non-empty text without control characters',
  path: (spec) => `expected a file path${spec.allowDash ? ', or "-" for stderr' : ''}`,
  list: () => 'expected one or more items, comma-separated or repeated',
  enum: (spec) => `expected one of: ${(spec.choices ?? []).join(', ')}`,
  mode: () => 'expected permission bits in octal, e.g. "0660" or "0600"',
};

/** Extra validation and normalization of each item of a list setting. */
const ITEM_PARSERS: Partial<Record<keyof Settings, (item: string, cwd: string) => string>> = {
  listen: (item, cwd) => parseListenAddress(item, cwd).spec,
  workerNodeArgs: (item) => parseNodeArgsItem(item),
  proxyFrom: (item) => cidrItem('proxy-from', item),
  trustProxy: (item) => cidrItem('trust-proxy', item),
  envFile: (item, cwd) => path.resolve(cwd, item),
  watch: (item, cwd) => (item === WATCH_APP_DIR ? item : path.resolve(cwd, item)),
};

function cidrItem(setting: string, item: string): string {
  try {
    return normalizeCidr(item);
  } catch (err) {
    throw new SettingError(setting, item, errorMessage(err));
  }
}

/** The default of a setting, computed now when it depends on the machine; arrays are copied. */
export function defaultOf(spec: SettingSpec): unknown {
  const value = typeof spec.default === 'function' ? (spec.default as () => unknown)() : spec.default;
  return Array.isArray(value) ? [...value] : value;
}

/**
 * Coerces and validates `raw` for `spec`. Relative paths are resolved against `cwd` now, so the
 * value keeps its meaning whatever directory the process is in later.
 */
export function coerceSetting(spec: SettingSpec, raw: unknown, cwd: string): unknown {
  const refuse = (expected = EXPECTED[spec.kind](spec)): SettingError => new SettingError(spec.name, raw, expected);
  // A config file says "back to unset" with null; only settings whose default is unset allow it.
  if (raw === null) {
    if (spec.default === null) return null;
    throw refuse();
  }
  switch (spec.kind) {
    case 'int': {
      const n = typeof raw === 'string' && /^[+-]?\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw;
      if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw refuse();
      return checkBounds(spec, raw, n, String);
    }
    case 'seconds': {
      const text = typeof raw === 'string' ? raw.trim() : '';
      const n = /^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(text) ? Number(text) : raw;
      if (typeof n !== 'number' || !Number.isFinite(n)) throw refuse();
      return checkBounds(spec, raw, n, (b) => `${b} seconds`, MAX_TIMER_SECONDS);
    }
    case 'bytes': {
      const n = typeof raw === 'string' ? parseBytes(raw) : raw;
      if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw refuse();
      return checkBounds(spec, raw, n, (b) => (formatBytes(b) === String(b) ? `${b} bytes` : `${formatBytes(b)} (${b} bytes)`));
    }
    case 'string':
      if (typeof raw !== 'string' || raw === '' || hasControl(raw)) throw refuse();
      if (spec.pattern !== undefined && !spec.pattern.test(raw)) throw refuse(spec.patternText);
      if (spec.key === 'admin') {
        try {
          return parseAdminAddress(raw, cwd).spec;
        } catch (err) {
          throw refuse(errorMessage(err));
        }
      }
      return raw;
    case 'mode':
      // A string only: the JSON number 660 would be decimal, not the 0660 it looks like.
      if (typeof raw !== 'string' || !/^0?[0-7]{3}$/.test(raw.trim())) throw refuse();
      return Number.parseInt(raw.trim(), 8);
    case 'path':
      if (typeof raw !== 'string' || raw === '' || hasControl(raw)) throw refuse();
      if (raw === '-' && spec.allowDash) return raw;
      return path.resolve(cwd, raw);
    case 'enum': {
      const choice = typeof raw === 'string' ? raw.trim().toLowerCase() : raw;
      if (typeof choice !== 'string' || !(spec.choices ?? []).includes(choice)) throw refuse();
      return choice;
    }
    case 'list':
      return coerceList(spec, raw, cwd, refuse);
  }
}

// A comma separates items everywhere (env, flags, config), so one rule covers every source; a
// repeated flag or a JSON array just gives several strings to split.
function coerceList(spec: SettingSpec, raw: unknown, cwd: string, refuse: (e?: string) => SettingError): string[] {
  const parts = typeof raw === 'string' ? [raw] : raw;
  if (!Array.isArray(parts) || !parts.every((p): p is string => typeof p === 'string')) throw refuse();
  const items = parts.flatMap((p) => p.split(',')).map((p) => p.trim()).filter((p) => p !== '');
  // A list whose default is empty (worker-node-args) may be set back to empty.
  const emptyAllowed = Array.isArray(spec.default) && spec.default.length === 0;
  if (items.length === 0 && !emptyAllowed) throw refuse('expected at least one item');
  const parse = ITEM_PARSERS[spec.key];
  const out: string[] = [];
  for (const item of items) {
    if (hasControl(item)) throw refuse(`item ${JSON.stringify(item)} contains a control character`);
    const normal = parse === undefined ? item : parse(item, cwd);
    // Binding one address twice would fail later with a bare EADDRINUSE; say why now.
    if (out.includes(normal)) throw refuse(`${normal} is listed twice`);
    out.push(normal);
  }
  return out;
}

function checkBounds(
  spec: SettingSpec,
  raw: unknown,
  n: number,
  show: (bound: number) => string,
  cap = Number.MAX_SAFE_INTEGER,
): number {
  // Negative counts, sizes and durations never make sense, so an absent minimum means 0.
  const min = spec.min ?? 0;
  const max = Math.min(spec.max ?? cap, cap);
  if (n < min) throw new SettingError(spec.name, raw, `must be at least ${show(min)}`);
  if (n > max) throw new SettingError(spec.name, raw, `must be at most ${show(max)}`);
  return n;
}

/** Parses `65536`, `64k`, `64KiB`, `1.5m`, `2MB` (binary units whatever the spelling); NaN if not. */
export function parseBytes(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m === null ? undefined : UNITS[(m[2] as string).toLowerCase()];
  if (m === null || unit === undefined) return NaN;
  const n = Number(m[1]) * unit;
  return Number.isInteger(n) ? n : NaN;
}

/** The shortest exact spelling of a byte count: 65536 → "64KiB", 1000 → "1000". */
export function formatBytes(n: number): string {
  for (const [suffix, size] of [['GiB', KiB ** 3], ['MiB', KiB ** 2], ['KiB', KiB]] as const) {
    if (n >= size && n % size === 0) return `${n / size}${suffix}`;
  }
  return String(n);
}

function hasControl(text: string): boolean {
  return /[\u0000-\u001f\u007f]/.test(text);
}
