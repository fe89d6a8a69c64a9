// The programmatic entry: `import { run } from 'raas'` starts a master in the calling process.
// Runs in: the master (the calling process becomes it and owns its signals from then on).

import { readEnvFiles } from './config/env-file.js';
import { hooksFrom, settingsFrom, type FlagValues, type MasterHooks, type ResolvedConfig } from './config/load.js';
import type { Settings } from './config/settings.js';
import { bootMaster } from './master/boot.js';

export type { Settings } from './config/settings.js';
export type { MasterHooks, HookWorker, WorkerExit } from './config/load.js';
export { SETTINGS } from './config/settings.js';
export { SIGNALS } from './signals.js';
export { EXIT } from './exit-codes.js';

/** Any setting by its camelCase key (the same values a config file takes), plus master hooks. */
export type RunOptions = Partial<{ [K in keyof Settings]: Settings[K] | string }> & MasterHooks;

/**
 * Starts a master with these settings; they win over the environment, as flags do. Resolves once
 * the master loop runs (its workers boot in the background); the process exits when it stops.
 */
export async function run(options: RunOptions = {}): Promise<void> {
  const resolve = async (): Promise<ResolvedConfig> => {
    const values: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(options)) if (typeof value !== 'function') values[key] = value;
    // Validated exactly like flags: a bad value throws a SettingError naming the setting.
    const { settings, sources } = settingsFrom({ cwd: process.cwd(), env: process.env, flags: values as FlagValues });
    const hooks = hooksFrom({ path: 'run() options', values: options as Record<string, unknown> });
    return { settings, sources, hooks, workerEnv: readEnvFiles(settings.envFile, process.cwd()) };
  };
  await bootMaster({ config: await resolve(), reloadConfig: resolve });
}
