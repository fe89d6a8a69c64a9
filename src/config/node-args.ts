// The `worker-node-args` setting: Node flags for worker processes only (--max-old-space-size=512,
// --enable-source-maps...). Each item may hold several flags separated by spaces; each flag must
// be one Node accepts in NODE_OPTIONS (process.allowedNodeEnvironmentFlags), so a typo is refused
// at startup with the setting's name instead of every worker dying at boot.
// Runs in: master (validation, and the launcher's argv) and control commands.

import { SettingError } from './errors.js';

/** The flags of one item, split on whitespace. */
export function splitNodeArgs(item: string): string[] {
  return item.split(/\s+/).filter((f) => f !== '');
}

/** Validates one item of the list; returns it normalized (single spaces). */
export function parseNodeArgsItem(item: string): string {
  const flags = splitNodeArgs(item);
  for (const flag of flags) {
    const name = flag.split('=', 1)[0] as string;
    if (!name.startsWith('-') || !process.allowedNodeEnvironmentFlags.has(name)) {
      throw new SettingError(
        'worker-node-args',
        item,
        `"${flag}" is not a Node flag allowed for worker processes (allowed: what NODE_OPTIONS accepts, e.g. --max-old-space-size=512, --enable-source-maps)`,
      );
    }
  }
  return flags.join(' ');
}

/** Every flag of the setting, in order, for the worker's argv. */
export function workerNodeArgs(items: readonly string[]): string[] {
  return items.flatMap(splitNodeArgs);
}
