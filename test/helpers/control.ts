// Test helper: runs a `raas` control command (status, reload, stop, ...) to its end.
// Runs in: the test runner process.

import { execFile } from 'node:child_process';
import { CLI } from './raas.js';

/** Runs `raas ARGS...`; its exit code (1 for a failure without one), stdout and stderr. `env` is added to ours. */
export function control(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60_000, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
