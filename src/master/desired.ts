// What the master wants running right now: the current generation of workers, how many, with
// which settings, hooks and sockets. An immutable value: a reload, its abort, TTIN, TTOU and
// WINCH each produce a new one, and the master's loop alone installs it (master.ts `install`).
// Everything else reads the current value through a `() => Desired` given at construction.
// Runs in: master.

import type { MasterHooks } from '../config/load.js';
import type { Settings } from '../config/settings.js';
import type { BoundListener } from './listeners/listeners.js';

const NO_ENV: Readonly<Record<string, string>> = Object.freeze({});

export interface Desired {
  readonly generation: number;
  readonly settings: Settings;
  readonly hooks: MasterHooks;
  readonly listeners: readonly BoundListener[];
  readonly target: number;
  /** The `env-file` variables this generation's workers start with (read with its config). */
  readonly workerEnv: Readonly<Record<string, string>>;
}

/** What a phase reads: always the value installed last. */
export type DesiredNow = () => Desired;

/** The first generation, as boot configured it. */
export function firstDesired(
  settings: Settings,
  hooks: MasterHooks,
  listeners: readonly BoundListener[],
  workerEnv: Readonly<Record<string, string>> = NO_ENV,
): Desired {
  return Object.freeze({ generation: 1, settings, hooks, listeners: Object.freeze([...listeners]), target: settings.workers, workerEnv });
}

/** The next generation from a reloaded config: its settings, hooks and sockets, its worker count. */
export function nextGeneration(
  current: Desired,
  settings: Settings,
  hooks: MasterHooks,
  listeners: readonly BoundListener[],
  workerEnv: Readonly<Record<string, string>> = NO_ENV,
): Desired {
  const next = { generation: current.generation + 1, settings, hooks, listeners: Object.freeze([...listeners]), target: settings.workers, workerEnv };
  return Object.freeze(next);
}

/** The same generation with another worker count (TTIN, TTOU, WINCH). */
export function withTarget(current: Desired, target: number): Desired {
  return Object.freeze({ ...current, target });
}
