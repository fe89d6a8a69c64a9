// The `app` setting's master-side checks: the file must be a readable regular file, and a
// TypeScript app needs a Node that runs TypeScript (or a loader named in worker-node-args or
// NODE_OPTIONS). Refused here with the setting's name and exit 2, before any worker is forked,
// instead of every worker failing to import it and the master giving up seconds later.
// Runs in: master (at start and on every HUP's config re-read).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { SettingError } from './errors.js';
import { splitNodeArgs } from './node-args.js';
import type { Settings } from './settings.js';
import { errorMessage } from '../errors.js';

const TS_EXTENSIONS: ReadonlySet<string> = new Set(['.ts', '.mts', '.cts']);

/** Node flags that load code before the app: a TypeScript loader such as tsx may be among them. */
const LOADER_FLAGS: ReadonlySet<string> = new Set(['--import', '--require', '-r', '--loader', '--experimental-loader']);
const STRIP_FLAGS: ReadonlySet<string> = new Set(['--experimental-strip-types', '--experimental-transform-types']);

/**
 * Whether this Node strips types by default: 22.18+, 23.6+ and every line from 24 on. Workers are
 * started with the master's Node binary (process.execPath) but not its execArgv, so the version
 * decides, not process.features.typescript (which a flag given to the master alone could set).
 */
export function stripsTypesByDefault(version = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major >= 24) return true;
  if (major === 23) return minor >= 6;
  if (major === 22) return minor >= 18;
  return false;
}

/** What the workers' Node flags (worker-node-args, then NODE_OPTIONS) say about TypeScript. */
function typeScriptFlags(flags: readonly string[]): 'loader' | 'strip' | 'no-strip' | null {
  let verdict: 'loader' | 'strip' | 'no-strip' | null = null;
  for (const flag of flags) {
    const name = flag.split('=', 1)[0] as string;
    if (LOADER_FLAGS.has(name)) return 'loader';
    if (STRIP_FLAGS.has(name)) verdict = 'strip';
    else if (name === '--no-experimental-strip-types') verdict = 'no-strip';
  }
  return verdict;
}

export function checkAppFile(settings: Pick<Settings, 'app' | 'workerNodeArgs'>, env: NodeJS.ProcessEnv, version = process.versions.node): void {
  const file = settings.app;
  if (file === null) return;
  const refuse = (why: string): SettingError => new SettingError('app', file, why, { message: `setting "app": ${file}: ${why}` });
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw refuse(code === 'ENOENT' ? 'no such file' : `cannot read it: ${errorMessage(err)}`);
  }
  if (!stat.isFile()) throw refuse(stat.isDirectory() ? 'is a directory; name the module file (e.g. server.js)' : 'is not a regular file');
  try {
    fs.accessSync(file, fs.constants.R_OK);
  } catch (err) {
    throw refuse(`cannot read it: ${errorMessage(err)}`);
  }
  const ext = path.extname(file).toLowerCase();
  if (!TS_EXTENSIONS.has(ext) && ext !== '.tsx') return;
  // Flags on the command line win over NODE_OPTIONS, as Node reads them.
  const flags = [...(settings.workerNodeArgs ?? []).flatMap(splitNodeArgs), ...splitNodeArgs(env.NODE_OPTIONS ?? '')];
  const verdict = typeScriptFlags(flags);
  if (verdict === 'loader') return;
  const loader = 'or install tsx (npm install tsx) and add --worker-node-args=--import=tsx';
  if (ext === '.tsx') throw refuse(`Node does not run .tsx files itself; ${loader.slice(3)}`);
  if (verdict === 'strip' || (verdict === null && stripsTypesByDefault(version))) return;
  const major = Number(version.split('.')[0]);
  throw refuse(
    verdict === 'no-strip'
      ? `a TypeScript app, but --no-experimental-strip-types turns off Node's type stripping; drop it, ${loader}`
      : major === 22 || major === 23
        ? `a TypeScript app, and Node ${version} does not strip types by default; use Node 22.18+ or 24+, ` +
          `add --worker-node-args=--experimental-strip-types, ${loader}`
        : `a TypeScript app, and Node ${version} cannot run TypeScript; use Node 22.18+ or 24+ (which strip types by default), ${loader}`,
  );
}
