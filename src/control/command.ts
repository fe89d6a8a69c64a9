// `raas reload | upgrade | stop | quit | scale N | status`: find the master (through the pid
// file, else the registry of this user's masters: finder.ts), send the right signal, wait for the
// outcome and report it. `raas status` with neither a pid file nor a name lists the masters.
// Runs in: the operator's shell (a short-lived process, never the master).

import { SettingError } from '../config/errors.js';
import type { Settings } from '../config/settings.js';
import { EXIT } from '../exit-codes.js';
import { CONTROL_COMMANDS, type ControlCommandName } from './commands.js';
import { controlSettings } from './settings.js';
import { currentMasters } from '../master/files/registry.js';
import { ourUid, ownerOf, UnsafeFileError } from '../safe-file.js';
import { readStatusFileChecked, type MasterStatus } from '../master/files/status-file.js';
import { freshReport, renderReport } from './status-view.js';
import { ControlError, PidFileFinder, RegistryFinder, type Finder, type FoundMaster } from './finder.js';
import { masterRows, renderMasters } from './masters-view.js';

const POLL_MS = 100;

interface Context {
  settings: Settings;
  finder: Finder;
  /** Neither a pid file nor a name: `raas status` lists every master of the registry. */
  registry: RegistryFinder | null;
  nameGiven: boolean;
  out: (line: string) => void;
}

type Command = (ctx: Context, args: string[]) => Promise<void>;

const RUNNERS: Record<ControlCommandName, Command> = {
  status,
  reload,
  upgrade,
  stop: (c) => stopWith(c, 'SIGTERM'),
  quit: (c) => stopWith(c, 'SIGQUIT'),
  scale,
};

export async function runControlCommand(positionals: string[], argv: string[]): Promise<number> {
  const [name, ...args] = positionals;
  const command = name !== undefined && Object.hasOwn(RUNNERS, name) ? RUNNERS[name as ControlCommandName] : undefined;
  const out = (line: string): void => void process.stdout.write(line + '\n');
  quietOnClosedOutput();
  try {
    if (!command) throw new ControlError(`unknown command "${name}"; commands: ${Object.keys(CONTROL_COMMANDS).join(', ')}`);
    // The same flags, env and config file as the master: that is where the pid file is named.
    const warn = (line: string): void => void process.stderr.write(`raas: warning: ${line}\n`);
    const { settings, nameGiven } = await controlSettings({ argv, env: { ...process.env }, cwd: process.cwd() }, warn);
    let finder: Finder;
    let registry: RegistryFinder | null = null;
    if (settings.pid !== null) {
      const me = ourUid();
      finder = new PidFileFinder(settings.pid, settings.name, nameGiven, me === 0 ? (ownerOf(settings.pid) ?? me) : me);
    } else {
      registry = new RegistryFinder(settings.runDir, nameGiven ? settings.name : null, warn);
      finder = registry;
    }
    await command({ settings, finder, registry, nameGiven, out }, args);
    return EXIT.OK;
  } catch (err) {
    if (err instanceof ControlError || err instanceof SettingError) {
      process.stderr.write(`raas: ${err.message}\n`);
      return err instanceof SettingError ? EXIT.CONFIG : EXIT.CONTROL_FAILED;
    }
    throw err;
  }
}

/**
 * `raas status | head -1`: the reader may leave before everything is written. What it wanted it
 * has, and the rest has nowhere to go: end quietly and successfully (a signal the command sent
 * stays sent; its outcome is only ever written last). Without a listener, EPIPE on a pipe is an
 * unhandled 'error' event: a stack trace and exit 1.
 */
function quietOnClosedOutput(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT.OK);
    throw err;
  });
  // A closed stderr leaves nowhere to report anything: the exit code still tells.
  process.stderr.on('error', () => undefined);
}

function readStatus(master: FoundMaster): MasterStatus | null {
  try {
    return readStatusFileChecked(master.files.status, master.pid, master.files.owner);
  } catch (err) {
    if (err instanceof UnsafeFileError) throw new ControlError(`status file not trusted: ${err.message}`);
    throw err;
  }
}

function currentStatus(master: FoundMaster): MasterStatus {
  const status = readStatus(master);
  if (!status) throw new ControlError(`master ${master.pid} has no status file yet`);
  return status;
}

async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new ControlError(`gave up after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

async function status(ctx: Context, args: string[]): Promise<void> {
  const json = args.includes('--json');
  if (ctx.registry !== null && !ctx.nameGiven) return listMasters(ctx, ctx.registry, json);
  const master = ctx.finder.find();
  currentStatus(master);
  // The stats report (status-view.ts) is rewritten once a second and when workers come and go:
  // wait briefly for one that shows the workers of the status file.
  const report = await freshReport(master.files, master.pid);
  if (!report) throw new ControlError(`master ${master.pid} has written no stats report yet`);
  const s = currentStatus(master);
  if (json) return ctx.out(JSON.stringify(report, null, 2));
  ctx.out(`master ${master.pid} ${s.phase}${s.ready ? ' ready' : ''} generation=${s.generation} workers=${s.target}`);
  for (const line of renderReport(report).slice(1)) ctx.out(line);
  if (s.successor) ctx.out(`new master ${s.successor.pid}${s.successor.ready ? ' ready' : ' booting'}`);
}

/** `raas status`, no pid file, no name: every live master of this user's, one line each. */
function listMasters(ctx: Context, registry: RegistryFinder, json: boolean): void {
  const { dir, masters } = registry.list();
  const rows = masterRows(masters);
  if (json) ctx.out(JSON.stringify({ runDir: dir, masters: rows }, null, 2));
  if (rows.length === 0) throw new ControlError(`no master is running (none registered in ${dir})`);
  if (json) return;
  for (const line of renderMasters(rows)) ctx.out(line);
  if (currentMasters(masters).length > 1) ctx.out(`\n${currentMasters(masters).length} masters: pass --name NAME to show or control one`);
}

async function reload(ctx: Context): Promise<void> {
  const master = ctx.finder.find();
  const { pid } = master;
  // Our HUP is counted as request `requested + 1` or later (another may come first, and HUPs
  // sent together may coalesce): our outcome is that of the first reload covering such a request.
  const ours = currentStatus(master).reloads.requested + 1;
  process.kill(pid, 'SIGHUP');
  // It may queue behind a reload already running: room for two.
  const timeoutMs = (2 * ctx.settings.bootTimeout + 10) * 1000;
  const record = await until('the reload to finish', timeoutMs, () => {
    const found = readStatus(master)?.reloads.history?.find((r) => r.covers >= ours);
    if (!found && !ctx.finder.alive(master)) throw new ControlError(`master ${pid} exited before the reload finished`);
    return found;
  });
  if (record.outcome === 'done') return ctx.out(`reloaded: master ${pid} serves generation ${record.generation}`);
  throw new ControlError(`reload ${record.outcome}: ${record.error ?? 'see the master log'}; the old workers keep serving`);
}

async function upgrade(ctx: Context): Promise<void> {
  const master = ctx.finder.find();
  const old = master.pid;
  const before = currentStatus(master).upgrades;
  process.kill(old, 'SIGUSR2');
  const timeoutMs = (ctx.settings.bootTimeout + 20) * 1000;
  const fresh = await until('the new master to be ready', timeoutMs, () => {
    const s = readStatus(master);
    // With an automatic hand-over the old master may be gone before we look: the pid file (or
    // the registry, where the new master's entry names the old one) tells which master replaced it.
    if (s === null || !ctx.finder.alive(master)) return ctx.finder.successorOf(master)?.pid;
    if (s.upgrades.failed > before.failed) return -1;
    return s.upgrades.started > before.started && s.successor?.ready ? s.successor.pid : undefined;
  });
  if (fresh === -1) throw new ControlError(`upgrade failed: the new master died before it was ready; master ${old} carries on`);
  if (ctx.settings.upgradeHandover === 'auto') {
    await until('the old master to exit', (ctx.settings.shutdownTimeout + 10) * 1000, () => (ctx.finder.alive(master) ? undefined : true));
    return ctx.out(`upgraded: master ${fresh} replaced ${old}`);
  }
  ctx.out(`upgraded: master ${fresh} is ready; the old master ${old} still serves: send it WINCH then QUIT (or HUP it and QUIT ${fresh} to back out)`);
}

async function stopWith(ctx: Context, signal: 'SIGTERM' | 'SIGQUIT'): Promise<void> {
  const master = ctx.finder.find();
  process.kill(master.pid, signal);
  const bound = signal === 'SIGTERM' ? (ctx.settings.shutdownTimeout + 10) * 1000 : 24 * 3600 * 1000;
  await until(`master ${master.pid} to exit`, bound, () => (ctx.finder.alive(master) ? undefined : true));
  ctx.out(`stopped: master ${master.pid}`);
}

async function scale(ctx: Context, args: string[]): Promise<void> {
  const wanted = Number(args[0]);
  if (!Number.isInteger(wanted) || wanted < 0 || wanted > 1024) {
    throw new ControlError(`scale needs a worker count between 0 and 1024, got ${JSON.stringify(args[0] ?? '')}`);
  }
  const master = ctx.finder.find();
  const { pid } = master;
  // Signals of one kind coalesce: send one, wait for the master to count it, then the next.
  for (let target = currentStatus(master).target; target !== wanted; ) {
    const next = target < wanted ? target + 1 : target - 1;
    process.kill(pid, target < wanted ? 'SIGTTIN' : 'SIGTTOU');
    target = await until(`the master to want ${next} workers`, 10_000, () => (readStatus(master)?.target === next ? next : undefined));
  }
  await until(`${wanted} ready workers`, (ctx.settings.bootTimeout + 10) * 1000, () => {
    const s = readStatus(master);
    return s && s.ready && s.workers.filter((w) => w.state === 'ready').length === wanted ? true : undefined;
  });
  ctx.out(`scaled: master ${pid} runs ${wanted} workers`);
}
