// What the master wants running right now: the current generation of workers, how many, with
// which settings, hooks and sockets. The loop makes it so; a reload replaces it (and restores
// the previous one when aborted); TTIN/TTOU/WINCH change the target.
// Runs in: master.

import type { MasterHooks } from '../config/load.js';
import type { Settings } from '../config/settings.js';
import type { BoundListener } from './listeners.js';

export interface Desired {
  generation: number;
  settings: Settings;
  hooks: MasterHooks;
  listeners: BoundListener[];
  target: number;
}
