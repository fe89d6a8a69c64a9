// Bench helper: the peers RAAS is measured against that are not Node: the C prefork server
// (bench/peers/prefork.c, built here with cc -O2) and the story's Ruby prefork server
// (bench/peers/prefork.rb, ruby from Debian's package, installed when missing and root).
// Runs in: the bench orchestrator process (bench/run.ts).

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureCommand } from './debian.js';
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

/** ruby on PATH, installing Debian's `ruby` package when missing (root and apt-get only). */
export function ensureRuby(log: (msg: string) => void): boolean {
  if (ensureCommand('ruby', 'ruby', log) !== undefined) return true;
  log('the Ruby peer is skipped');
  return false;
}
