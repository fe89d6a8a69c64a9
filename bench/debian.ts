// Bench helper: a command the bench needs (wrk, ruby), installed from Debian's package when it is
// missing and the bench runs as root with apt-get; otherwise the runs that need it are skipped.
// Runs in: the bench orchestrator process (bench/run.ts).

import { spawnSync } from 'node:child_process';

/** The command's path on PATH, or undefined. */
export function which(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** The path of `cmd`, installing Debian's `pkg` when missing (root and apt-get only); undefined when unavailable. */
export function ensureCommand(cmd: string, pkg: string, log: (msg: string) => void): string | undefined {
  const found = which(cmd);
  if (found) return found;
  if (process.getuid?.() !== 0 || !which('apt-get')) {
    log(`${cmd} not found and cannot be installed here (needs root and apt-get)`);
    return undefined;
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const aptGet = (...args: string[]): boolean =>
    spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env }).status === 0;
  log(`${cmd} not found: apt-get install -y ${pkg}`);
  if (!aptGet('install', '-y', '-q', pkg)) {
    log('apt-get install failed: apt-get update, then retry');
    aptGet('update', '-q'); // a failure shows in the retry
    if (!aptGet('install', '-y', '-q', pkg)) {
      log(`could not install ${pkg}`);
      return undefined;
    }
  }
  return which(cmd);
}
