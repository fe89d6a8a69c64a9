// Starts a master: settings are already resolved; bind (or inherit) the sockets, name the
// process, and hand everything to the master loop.
// Runs in: master.

import { parseListenAddress } from '../config/listen-address.js';
import type { ResolvedConfig } from '../config/load.js';
import { EXIT } from '../exit-codes.js';
import { LOG, Logger } from '../log.js';
import { masterTitle, setProcessTitle } from '../process-title.js';
import { processLauncher } from './launcher.js';
import { bindListener, closeListener, type BoundListener } from './listeners.js';
import { Master } from './master.js';

export interface BootOptions {
  config: ResolvedConfig;
  /** Re-resolves settings on HUP. */
  reloadConfig: () => Promise<ResolvedConfig>;
}

export async function bootMaster({ config, reloadConfig }: BootOptions): Promise<Master> {
  const { settings } = config;
  const log = new Logger({ role: 'master', pid: process.pid }, settings.logFile);
  const cut = setProcessTitle(masterTitle(settings.name));
  if (cut !== null) log.warn(LOG.TITLE_TRUNCATED, { title: cut });

  const listeners: BoundListener[] = [];
  try {
    for (const spec of settings.listen) listeners.push(await bindListener(parseListenAddress(spec)));
  } catch (err) {
    for (const listener of listeners) closeListener(listener);
    log.error(LOG.BIND_ERROR, { error: err instanceof Error ? err.message : String(err) });
    process.exit(EXIT.BIND);
  }

  const master = new Master(settings, config.hooks, listeners, {
    launcher: processLauncher,
    log,
    clock: () => performance.now(),
    loadConfig: reloadConfig,
    bind: bindListener,
    exit: (code) => process.exit(code),
  });
  master.start();
  return master;
}
