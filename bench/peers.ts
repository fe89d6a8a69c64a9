// Bench helper: the peers RAAS is measured against that are not Node: the C prefork server
// (bench/peers/prefork.c, built here with cc -O2) and the story's Ruby prefork server
// (bench/peers/prefork.rb, ruby from Debian's package, installed when missing and root).
// Runs in: the bench orchestrator process (bench/run.ts).

import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PEER_C, ROOT } from './servers.js';

const C_SOURCE = path.join(ROOT, 'bench', 'peers', 'prefork.c');

/** Compiles the C peer unless its binary is newer than the source; false without a compiler. */
export function buildPeerC(log: (msg: string) => void): boolean {
  fs.mkdirSync(path.dirname(PEER_C), { recursive: true });
  if (fs.existsSync(PEER_C) && fs.statSync(PEER_C).mtimeMs >= fs.statSync(C_SOURCE).mtimeMs) return true;
  try {
    execFileSync(process.env.CC ?? 'cc', ['-O2', '-Wall', '-o', PEER_C, C_SOURCE], { stdio: 'inherit' });
    return true;
  } catch (err) {
    log(`C peer: build failed: ${(err as Error).message}`);
    return false;
  }
}

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** ruby on PATH, installing Debian's `ruby` package when missing (root and apt-get only). */
export function ensureRuby(log: (msg: string) => void): boolean {
  if (has('ruby')) return true;
  if (process.getuid?.() !== 0 || !has('apt-get')) {
    log('ruby not found and cannot be installed here (needs root and apt-get): the Ruby peer is skipped');
    return false;
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = (): boolean =>
    spawnSync('apt-get', ['install', '-y', '-q', 'ruby'], { stdio: ['ignore', 'ignore', 'inherit'], env }).status === 0;
  log('ruby not found: apt-get install -y ruby');
  if (!install()) {
    spawnSync('apt-get', ['update', '-q'], { stdio: ['ignore', 'ignore', 'inherit'], env });
    if (!install()) return false;
  }
  return has('ruby');
}
