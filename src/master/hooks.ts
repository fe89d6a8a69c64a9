// Calls the master hooks of a JS config file (beforeSpawn, afterWorkerReady, afterWorkerExit).
// Runs in: master.
//
// A hook runs inside the master loop: it is not awaited, and what it throws (or rejects with) is
// logged, never allowed to take the master down.

import type { HookWorker, MasterHooks, WorkerExit } from '../config/load.js';
import { LOG, type Logger } from '../log.js';
import { errorWithStack } from '../errors.js';

export function runHook(
  log: Logger,
  hooks: MasterHooks,
  name: keyof MasterHooks & string,
  worker: HookWorker,
  exit?: WorkerExit,
): void {
  const hook = hooks[name] as ((w: HookWorker, e?: WorkerExit) => unknown) | undefined;
  if (!hook) return;
  const failed = (err: unknown): void =>
    log.error(LOG.HANDLER_ERROR, { hook: name, error: errorWithStack(err) });
  try {
    const result = hook(worker, exit);
    if (result instanceof Promise) result.catch(failed);
  } catch (err) {
    failed(err);
  }
}
