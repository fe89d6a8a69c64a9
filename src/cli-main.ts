// The `raas` command: starts a master with the resolved settings, or prints help or version, or
// runs a control command. Loaded by cli.ts once the early signal handlers are in place.
// Runs in: master (and briefly in the shell user's process for --help/--version/control).

import * as fs from 'node:fs';
import { SettingError } from './config/errors.js';
import { parseArgv, resolveSettings } from './config/load.js';
import { EXIT } from './exit-codes.js';
import { bootMaster } from './master/boot.js';
import { releaseEarlySignals } from './master/early-signals.js';

function packageVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export async function main(argv: string[]): Promise<void> {
  const parsed = (() => {
    try {
      return parseArgv(argv);
    } catch (err) {
      return fail(err);
    }
  })();
  // Only a master queues signals for later; anything else obeys them as usual (Ctrl-C).
  if (parsed.help || parsed.version || parsed.positionals.length > 0) releaseEarlySignals();
  if (parsed.help) {
    // Loaded on demand: a running master never needs the help text (nor the control commands').
    const [{ renderHelp }, { CONTROL_COMMANDS }] = await Promise.all([import('./config/help.js'), import('./control/commands.js')]);
    process.stdout.write(renderHelp(CONTROL_COMMANDS));
    return;
  }
  if (parsed.version) {
    process.stdout.write(`raas ${packageVersion()} (node ${process.version})\n`);
    return;
  }
  if (parsed.positionals.length > 0) {
    const { runControlCommand } = await import('./control/command.js');
    process.exitCode = await runControlCommand(parsed.positionals, argv);
    return;
  }
  const input = { argv, env: { ...process.env }, cwd: process.cwd(), master: true };
  const config = await resolveSettings(input).catch(fail);
  await bootMaster({
    config,
    reloadConfig: () => resolveSettings(input),
    // Loaded only when `admin` is set (node:http and the admin code cost a master ~1.5 MiB otherwise).
    loadAdminServer: async (options) => (await import('./admin/server.js')).adminServerWith(options),
  });
}

function fail(err: unknown): never {
  if (err instanceof SettingError) {
    process.stderr.write(`raas: ${err.message}\n`);
    process.exit(EXIT.CONFIG);
  }
  throw err;
}

