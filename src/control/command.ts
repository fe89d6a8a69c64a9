// `raas reload | upgrade | stop | quit | scale N | status`: find the master through the pid
// file, send the right signal, wait for the outcome and report it.
// Runs in: the operator's shell (a short-lived process, never the master).

import { SettingError } from '../config/errors.js';
import { resolveSettings } from '../config/load.js';
import type { Settings } from '../config/settings.js';
import { EXIT } from '../exit-codes.js';
import { CONTROL_COMMANDS, type ControlCommandName } from './commands.js';
import { isLiveMaster, readPid } from '../master/pidfile.js';
import { readStatus, type MasterStatus } from '../master/status-file.js';
import { freshReport, renderReport } from './status-view.js';

const POLL_MS = 100;

class ControlError extends Error {}

interface Context {
  settings: Settings;
  pidFile: string;
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
  try {
    if (!command) throw new ControlError(`unknown command "${name}"; commands: ${Object.keys(CONTROL_COMMANDS).join(', ')}`);
    // The same flags, env and config file as the master: that is where the pid file is named.
    const { settings } = await resolveSettings({ argv, env: { ...process.env }, cwd: process.cwd() });
    if (settings.pid === null) {
      throw new ControlError('control commands find the master through its pid file: pass --pid FILE (or set "pid" in the config)');
    }
    await command({ settings, pidFile: settings.pid, out }, args);
    return EXIT.OK;
  } catch (err) {
    if (err instanceof ControlError || err instanceof SettingError) {
      process.stderr.write(`raas: ${err.message}\n`);
      return err instanceof SettingError ? EXIT.CONFIG : EXIT.CONTROL_FAILED;
    }
    throw err;
  }
}

function masterPid(pidFile: string): number {
  const pid = readPid(pidFile);
  if (pid === null || !isLiveMaster(pid)) throw new ControlError(`no master is running (pid file ${pidFile})`);
  return pid;
}

function currentStatus(ctx: Context, pid: number): MasterStatus {
  const status = readStatus(ctx.pidFile, pid);
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
  const pid = masterPid(ctx.pidFile);
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
  const pid = masterPid(ctx.pidFile);
  const before = currentStatus(ctx, pid).reloads;
  process.kill(pid, 'SIGHUP');
  const timeoutMs = (ctx.settings.bootTimeout + 10) * 1000;
  const after = await until('the reload to finish', timeoutMs, () => {
    const r = readStatus(ctx.pidFile, pid)?.reloads;
    return r && r.done + r.aborted + r.refused > before.done + before.aborted + before.refused ? r : undefined;
  });
  if (after.done > before.done) return ctx.out(`reloaded: master ${pid} serves generation ${currentStatus(ctx, pid).generation}`);
  const verdict = after.refused > before.refused ? 'refused' : 'aborted';
  throw new ControlError(`reload ${verdict}: ${after.lastError ?? 'see the master log'}; the old workers keep serving`);
}

async function upgrade(ctx: Context): Promise<void> {
  const old = masterPid(ctx.pidFile);
  const before = currentStatus(ctx, old).upgrades;
  process.kill(old, 'SIGUSR2');
  const timeoutMs = (ctx.settings.bootTimeout + 20) * 1000;
  const fresh = await until('the new master to be ready', timeoutMs, () => {
    const s = readStatus(ctx.pidFile, old);
    if (s === null || !isLiveMaster(old)) {
      // With an automatic hand-over the old master may be gone before we look: the pid file tells.
      const now = readPid(ctx.pidFile);
      return now !== null && now !== old && isLiveMaster(now) ? now : undefined;
    }
    if (s.upgrades.failed > before.failed) return -1;
    return s.upgrades.started > before.started && s.successor?.ready ? s.successor.pid : undefined;
  });
  if (fresh === -1) throw new ControlError(`upgrade failed: the new master died before it was ready; master ${old} carries on`);
  if (ctx.settings.upgradeHandover === 'auto') {
    await until('the old master to exit', (ctx.settings.shutdownTimeout + 10) * 1000, () => (isLiveMaster(old) ? undefined : true));
    return ctx.out(`upgraded: master ${fresh} replaced ${old}`);
  }
  ctx.out(`upgraded: master ${fresh} is ready; the old master ${old} still serves: send it WINCH then QUIT (or HUP it and QUIT ${fresh} to back out)`);
}

async function stopWith(ctx: Context, signal: 'SIGTERM' | 'SIGQUIT'): Promise<void> {
  const pid = masterPid(ctx.pidFile);
  process.kill(pid, signal);
  const bound = signal === 'SIGTERM' ? (ctx.settings.shutdownTimeout + 10) * 1000 : 24 * 3600 * 1000;
  await until(`master ${pid} to exit`, bound, () => (isLiveMaster(pid) ? undefined : true));
  ctx.out(`stopped: master ${pid}`);
}

async function scale(ctx: Context, args: string[]): Promise<void> {
  const wanted = Number(args[0]);
  if (!Number.isInteger(wanted) || wanted < 0 || wanted > 1024) {
    throw new ControlError(`scale needs a worker count between 0 and 1024, got ${JSON.stringify(args[0] ?? '')}`);
  }
  const pid = masterPid(ctx.pidFile);
  // Signals of one kind coalesce: send one, wait for the master to count it, then the next.
  for (let target = currentStatus(ctx, pid).target; target !== wanted; ) {
    const next = target < wanted ? target + 1 : target - 1;
    process.kill(pid, target < wanted ? 'SIGTTIN' : 'SIGTTOU');
    target = await until(`the master to want ${next} workers`, 10_000, () =>
      readStatus(ctx.pidFile, pid)?.target === next ? next : undefined,
    );
  }
  await until(`${wanted} ready workers`, (ctx.settings.bootTimeout + 10) * 1000, () => {
    const s = readStatus(ctx.pidFile, pid);
    return s && s.ready && s.workers.filter((w) => w.state === 'ready').length === wanted ? true : undefined;
  });
  ctx.out(`scaled: master ${pid} runs ${wanted} workers`);
}
