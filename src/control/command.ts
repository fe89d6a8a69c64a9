// `raas reload | upgrade | stop | quit | scale N | status`: find the master through the pid
// file, send the right signal, wait for the outcome and report it.
// Runs in: the operator's shell (a short-lived process, never the master).

import { SettingError } from '../config/errors.js';
import type { Settings } from '../config/settings.js';
import { EXIT } from '../exit-codes.js';
import { CONTROL_COMMANDS, type ControlCommandName } from './commands.js';
import { controlSettings } from './settings.js';
import { processIdentity } from '../master/files/identity.js';
import { isLiveMaster, readPidChecked } from '../master/files/pidfile.js';
import { masterTitle } from '../process-title.js';
import { ourUid, ownerOf, UnsafeFileError } from '../safe-file.js';
import { readStatusChecked, type MasterStatus } from '../master/files/status-file.js';
import { freshReport, renderReport } from './status-view.js';

const POLL_MS = 100;

class ControlError extends Error {}

interface Context {
  settings: Settings;
  pidFile: string;
  /**
   * The master's name, which its process title must show: the one given, else, once the pid file's
   * process is found, the one that master wrote in its status file (see masterPid).
   */
  name: string;
  nameGiven: boolean;
  /**
   * The user the master runs as: ours; as root, the pid file's owner (root may drive the master of
   * another user). The pid file, the status file and the master process must all be this user's.
   */
  owner: number | null;
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
    if (settings.pid === null) {
      throw new ControlError('control commands find the master through its pid file: pass --pid FILE (or set "pid" in the config)');
    }
    const me = ourUid();
    const owner = me === 0 ? (ownerOf(settings.pid) ?? me) : me;
    await command({ settings, pidFile: settings.pid, name: settings.name, nameGiven, owner, out }, args);
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

/** The master the pid file names, if it is alive, titled with its name and of the right user. */
function masterPid(ctx: Context): number {
  const pid = pidInFile(ctx);
  if (pid !== null && alive(ctx, pid)) return pid;
  if (pid !== null && !ctx.nameGiven) {
    // No name given: the master's own status file says it. The file counts only as the pid file
    // does (the master's user's, no link) and only if it names this very pid; the process must
    // then be titled as a master of that name, as that user: the same checks, another name.
    const published = readStatus(ctx, pid)?.name;
    if (published !== undefined && published !== ctx.name && isLiveMaster(pid, published, ctx.owner)) {
      ctx.name = published;
      return pid;
    }
  }
  // A master of ours under another name: say which, rather than "none" (nothing is signalled).
  const title = pid === null ? null : processIdentity(pid)?.title;
  const other = title && isLiveMaster(pid as number, undefined, ctx.owner) ? /^\[([^\]]+)\]/.exec(title)?.[1] : undefined;
  if (other !== undefined) {
    throw new ControlError(
      `pid file ${ctx.pidFile} names process ${pid} titled "${title}", not "${masterTitle(ctx.name)}": ` +
        `pass --name ${other} (or the config the master runs with)`,
    );
  }
  throw new ControlError(`no master is running (pid file ${ctx.pidFile})`);
}

function pidInFile(ctx: Context): number | null {
  try {
    return readPidChecked(ctx.pidFile, ctx.owner);
  } catch (err) {
    if (err instanceof UnsafeFileError) throw new ControlError(`pid file not trusted: ${err.message}`);
    throw err;
  }
}

function alive(ctx: Context, pid: number): boolean {
  return isLiveMaster(pid, ctx.name, ctx.owner);
}

function readStatus(ctx: Context, pid: number): MasterStatus | null {
  try {
    return readStatusChecked(ctx.pidFile, pid, ctx.owner);
  } catch (err) {
    if (err instanceof UnsafeFileError) throw new ControlError(`status file not trusted: ${err.message}`);
    throw err;
  }
}

function currentStatus(ctx: Context, pid: number): MasterStatus {
  const status = readStatus(ctx, pid);
  if (!status) throw new ControlError(`master ${pid} has no status file yet`);
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
  const pid = masterPid(ctx);
  currentStatus(ctx, pid);
  // The stats report (status-view.ts) is rewritten once a second and when workers come and go:
  // wait briefly for one that shows the workers of the status file.
  const report = await freshReport(ctx.pidFile, pid);
  if (!report) throw new ControlError(`master ${pid} has written no stats report yet`);
  const s = currentStatus(ctx, pid);
  if (args.includes('--json')) return ctx.out(JSON.stringify(report, null, 2));
  ctx.out(`master ${pid} ${s.phase}${s.ready ? ' ready' : ''} generation=${s.generation} workers=${s.target}`);
  for (const line of renderReport(report).slice(1)) ctx.out(line);
  if (s.successor) ctx.out(`new master ${s.successor.pid}${s.successor.ready ? ' ready' : ' booting'}`);
}

async function reload(ctx: Context): Promise<void> {
  const pid = masterPid(ctx);
  // Our HUP is counted as request `requested + 1` or later (another may come first, and HUPs
  // sent together may coalesce): our outcome is that of the first reload covering such a request.
  const ours = currentStatus(ctx, pid).reloads.requested + 1;
  process.kill(pid, 'SIGHUP');
  // It may queue behind a reload already running: room for two.
  const timeoutMs = (2 * ctx.settings.bootTimeout + 10) * 1000;
  const record = await until('the reload to finish', timeoutMs, () => {
    const found = readStatus(ctx, pid)?.reloads.history?.find((r) => r.covers >= ours);
    if (!found && !alive(ctx, pid)) throw new ControlError(`master ${pid} exited before the reload finished`);
    return found;
  });
  if (record.outcome === 'done') return ctx.out(`reloaded: master ${pid} serves generation ${record.generation}`);
  throw new ControlError(`reload ${record.outcome}: ${record.error ?? 'see the master log'}; the old workers keep serving`);
}

async function upgrade(ctx: Context): Promise<void> {
  const old = masterPid(ctx);
  const before = currentStatus(ctx, old).upgrades;
  process.kill(old, 'SIGUSR2');
  const timeoutMs = (ctx.settings.bootTimeout + 20) * 1000;
  const fresh = await until('the new master to be ready', timeoutMs, () => {
    const s = readStatus(ctx, old);
    if (s === null || !alive(ctx, old)) {
      // With an automatic hand-over the old master may be gone before we look: the pid file tells.
      const now = pidInFile(ctx);
      return now !== null && now !== old && alive(ctx, now) ? now : undefined;
    }
    if (s.upgrades.failed > before.failed) return -1;
    return s.upgrades.started > before.started && s.successor?.ready ? s.successor.pid : undefined;
  });
  if (fresh === -1) throw new ControlError(`upgrade failed: the new master died before it was ready; master ${old} carries on`);
  if (ctx.settings.upgradeHandover === 'auto') {
    await until('the old master to exit', (ctx.settings.shutdownTimeout + 10) * 1000, () => (alive(ctx, old) ? undefined : true));
    return ctx.out(`upgraded: master ${fresh} replaced ${old}`);
  }
  ctx.out(`upgraded: master ${fresh} is ready; the old master ${old} still serves: send it WINCH then QUIT (or HUP it and QUIT ${fresh} to back out)`);
}

async function stopWith(ctx: Context, signal: 'SIGTERM' | 'SIGQUIT'): Promise<void> {
  const pid = masterPid(ctx);
  process.kill(pid, signal);
  const bound = signal === 'SIGTERM' ? (ctx.settings.shutdownTimeout + 10) * 1000 : 24 * 3600 * 1000;
  await until(`master ${pid} to exit`, bound, () => (alive(ctx, pid) ? undefined : true));
  ctx.out(`stopped: master ${pid}`);
}

async function scale(ctx: Context, args: string[]): Promise<void> {
  const wanted = Number(args[0]);
  if (!Number.isInteger(wanted) || wanted < 0 || wanted > 1024) {
    throw new ControlError(`scale needs a worker count between 0 and 1024, got ${JSON.stringify(args[0] ?? '')}`);
  }
  const pid = masterPid(ctx);
  // Signals of one kind coalesce: send one, wait for the master to count it, then the next.
  for (let target = currentStatus(ctx, pid).target; target !== wanted; ) {
    const next = target < wanted ? target + 1 : target - 1;
    process.kill(pid, target < wanted ? 'SIGTTIN' : 'SIGTTOU');
    target = await until(`the master to want ${next} workers`, 10_000, () =>
      readStatus(ctx, pid)?.target === next ? next : undefined,
    );
  }
  await until(`${wanted} ready workers`, (ctx.settings.bootTimeout + 10) * 1000, () => {
    const s = readStatus(ctx, pid);
    return s && s.ready && s.workers.filter((w) => w.state === 'ready').length === wanted ? true : undefined;
  });
  ctx.out(`scaled: master ${pid} runs ${wanted} workers`);
}
