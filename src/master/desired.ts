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
  /** How many workers the master wants now: within `bounds`, moved by the elastic policy (supervision/elastic.ts). */
  readonly target: number;
  /** The `env-file` variables this generation's workers start with (read with its config). */
  readonly workerEnv: Readonly<Record<string, string>>;
  /** The fewest and most workers the elastic policy may want; equal when the pool is fixed. */
  readonly bounds: Bounds;
}

export interface Bounds {
  readonly min: number;
  readonly max: number;
}

/** `workers` to `max-workers` (0: off, a fixed pool of `workers`). */
export function boundsOf(settings: Pick<Settings, 'workers' | 'maxWorkers'>): Bounds {
  return Object.freeze({ min: settings.workers, max: Math.max(settings.workers, settings.maxWorkers) });
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
  return Object.freeze({ generation: 1, settings, hooks, listeners: Object.freeze([...listeners]), target: settings.workers, workerEnv, bounds: boundsOf(settings) });
}

/** The next generation from a reloaded config: its settings, hooks and sockets, its worker count and bounds. */
export function nextGeneration(
  current: Desired,
  settings: Settings,
  hooks: MasterHooks,
  listeners: readonly BoundListener[],
  workerEnv: Readonly<Record<string, string>> = NO_ENV,
): Desired {
  const next = {
    generation: current.generation + 1,
    settings,
    hooks,
    listeners: Object.freeze([...listeners]),
    target: settings.workers,
    workerEnv,
    bounds: boundsOf(settings),
  };
  return Object.freeze(next);
}

/** The same generation with another worker count, within its bounds (the elastic policy). */
export function withTarget(current: Desired, target: number): Desired {
  return Object.freeze({ ...current, target: Math.min(current.bounds.max, Math.max(current.bounds.min, target)) });
}

/**
 * The same generation with both bounds moved by `by` (TTIN +1, TTOU -1), and the count with them:
 * the window the elastic policy acts in shifts, its width kept while the lower bound stays >= 0.
 */
export function withBoundsMoved(current: Desired, by: number): Desired {
  const min = Math.max(0, current.bounds.min + by);
  const max = Math.max(min, current.bounds.max + by);
  const target = Math.min(max, Math.max(min, current.target + by));
  return Object.freeze({ ...current, target, bounds: Object.freeze({ min, max }) });
}

/** WINCH: no worker at all, until TTIN or a reload (both bounds 0). */
export function withNoWorkers(current: Desired): Desired {
  return Object.freeze({ ...current, target: 0, bounds: Object.freeze({ min: 0, max: 0 }) });
}
