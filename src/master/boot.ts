// Starts a master: settings are already resolved; claim the pid file, bind (or inherit) the
// sockets, name the process, and hand everything to the master loop.
// Runs in: master.

import { parseListenAddress } from '../config/listen-address.js';
import type { ResolvedConfig } from '../config/load.js';
import { EXIT } from '../exit-codes.js';
import { LOG, Logger } from '../log.js';
import { masterTitle, setProcessTitle } from '../process-title.js';
import { bindListener, closeListener, type BoundListener } from './listeners/listeners.js';
import { inspectorAdvice, takeEarlySignals, usr1DisabledByNode } from './early-signals.js';
import { Master, type AdminListenerClass, type MasterDeps } from './master.js';
import { prepareReportDir, workersReportDir } from './supervision/stuck-report.js';
import { dropTarget } from '../config/accounts.js';
import { loadReaper } from './supervision/reaper.js';
import { claimPidFile, PidFileError, releasePidFile } from './files/pidfile.js';
import { registerMaster } from './files/registry.js';
import { checkAppendFile } from '../safe-file.js';
import { realSystem } from './system.js';
import { nativePaths } from '../native.js';
import { closeUnwanted, PARENT_ENV, takeInheritedListeners } from './upgrade/inherit.js';
import { errorMessage } from '../errors.js';

export interface BootOptions {
  config: ResolvedConfig;
  /** Re-resolves settings on HUP. */
  reloadConfig: () => Promise<ResolvedConfig>;
  /**
   * Loads the admin listener's class (src/admin/, which reads the master's stats and so sits a
   * floor above it: the entry point, cli-main.ts, hands it down). Called only when `admin` is set.
   */
  loadAdminServer?: (options: { socketMode: number }) => Promise<AdminListenerClass>;
}

export async function bootMaster({ config, reloadConfig, loadAdminServer }: BootOptions): Promise<Master> {
  const { settings } = config;
  let log: Logger;
  try {
    log = new Logger({ role: 'master', pid: process.pid }, settings.logFile);
  } catch (err) {
    process.stderr.write(`raas: cannot open log-file ${settings.logFile}: ${errorMessage(err)}\n`);
    process.exit(EXIT.CONFIG);
  }
  // Workers open the access log; a file they would refuse (a symlink, another user's) is refused here, once.
  if (settings.accessLog !== null && settings.accessLog !== '-') {
    try {
      checkAppendFile(settings.accessLog);
    } catch (err) {
      log.error(LOG.CONFIG_ERROR, { setting: 'access-log', error: errorMessage(err) });
      process.exit(EXIT.CONFIG);
    }
  }
  const cut = setProcessTitle(masterTitle(settings.name));
  if (cut !== null) log.warn(LOG.TITLE_TRUNCATED, { title: cut });
  if (process.getuid?.() === 0 && !usr1DisabledByNode()) log.warn(LOG.INSPECTOR_WINDOW, inspectorAdvice());

  const parentMaster = Number(process.env[PARENT_ENV]) || null;
  delete process.env[PARENT_ENV];
  if (settings.pid !== null) {
    try {
      claimPidFile(settings.pid, process.pid, settings.name);
    } catch (err) {
      log.error(LOG.PIDFILE_ERROR, { error: errorMessage(err) });
      // Distinct codes: "already running" is final, an unusable pid file is the operator's to fix.
      process.exit(err instanceof PidFileError && err.kind === 'running' ? EXIT.ALREADY_RUNNING : EXIT.PIDFILE);
    }
  }

  const inherited = takeInheritedListeners();
  const listeners: BoundListener[] = [];
  try {
    if (inherited?.source === 'systemd') {
      listeners.push(...inherited.listeners);
    } else {
      for (const spec of settings.listen) {
        const address = parseListenAddress(spec);
        const adopted = inherited?.listeners.find((l) => l.spec === address.spec || l.bound === address.spec);
        listeners.push(adopted ?? (await bindListener(address, settings.socketMode)));
      }
      if (inherited) closeUnwanted(inherited.listeners, listeners);
    }
  } catch (err) {
    for (const listener of listeners) if (listener.handle) closeListener(listener);
    log.error(LOG.BIND_ERROR, { error: errorMessage(err) });
    if (settings.pid !== null) releasePidFile(settings.pid);
    process.exit(EXIT.BIND);
  }

  // Stuck-worker reports: a directory that cannot be used costs the report, never the service.
  let reportDir: string | null = null;
  if (settings.workerWatchdog === 'on') {
    try {
      // Workers that drop privileges write into a room of their own user's (stuck-report.ts).
      const target = dropTarget(settings);
      reportDir = workersReportDir(prepareReportDir(settings.reportDir), target?.user ? { uid: target.user.uid, gid: target.gid } : null);
    } catch (err) {
      log.warn(LOG.CONFIG_ERROR, { setting: 'report-dir', error: errorMessage(err) });
    }
  }
  // The registry: control commands find this master by name, without --pid (files/registry.ts).
  const registration = registerMaster(settings, parentMaster, (error) => log.warn(LOG.REGISTRY_ERROR, { error }));
  if (registration !== null) {
    const { entry } = registration;
    log.info(LOG.REGISTERED, { run_dir: registration.dir, status_file: entry.statusFile, ...(entry.parent ? { parent_pid: entry.parent } : {}) });
  }
  // PID 1 (a container without an init) must collect orphans; nobody else has to.
  log.info(LOG.NATIVE_ADDONS, nativePaths());
  const reapOrphans = process.pid === 1 ? loadReaper() : null;
  if (process.pid === 1 && reapOrphans === null) {
    log.warn(LOG.REAPER_MISSING, { advice: 'run with an init (docker run --init) to reap orphans' });
  }
  // Loaded only when asked for (memory: see MasterDeps.adminServer); the address is read at start
  // only, so a reload never needs it later.
  let adminServer: MasterDeps['adminServer'];
  if (settings.admin !== null && loadAdminServer !== undefined) {
    try {
      adminServer = await loadAdminServer({ socketMode: settings.socketMode });
    } catch (err) {
      // Like a busy admin address: it costs the admin listener, never the service.
      log.error(LOG.ADMIN_ERROR, { error: `cannot load the admin listener: ${errorMessage(err)}` });
    }
  }
  const master = new Master(settings, config.hooks, listeners, {
    system: { ...realSystem, reapOrphans, bind: (address) => bindListener(address, settings.socketMode) },
    log,
    loadConfig: reloadConfig,
    pidFile: settings.pid,
    // Without a pid file, the status files live in the run directory, beside the entry.
    stateFiles: registration === null ? undefined : { status: registration.entry.statusFile, stats: registration.entry.statsFile },
    onExit: () => registration?.remove(),
    parentMaster,
    listenersFixed: inherited?.source === 'systemd',
    reportDir,
    adminServer,
  }, config.workerEnv);
  master.start(takeEarlySignals);
  return master;
}
