// Shared checks for integration tests: which workers are alive, and load progress.
// Runs in: the test runner process.

import assert from 'node:assert/strict';
import type { LineLoad } from './clients.js';
import { isAlive, waitUntil, type RaasProcess } from './raas.js';

export const sorted = (pids: Iterable<number>): number[] => [...pids].sort((a, b) => a - b);

/** The log and the kernel agree: exactly `pids` are the live workers. */
export function assertLiveWorkers(raas: RaasProcess, pids: Iterable<number>): void {
  assert.deepEqual(sorted(raas.liveWorkerPids()), sorted(pids));
  for (const pid of pids) assert.equal(isAlive(pid), true, `worker ${pid} should be alive`);
}

/** Waits until the load has served `more` requests beyond what it had served so far. */
export async function served(load: LineLoad, more: number): Promise<void> {
  const before = load.ok;
  await waitUntil(`${more} more requests served`, () => load.ok >= before + more, 10_000);
}
