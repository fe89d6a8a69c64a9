// V8 flags the `raas` process sets on itself at runtime (it is started by the user, so it has no
// spawn argv of ours). Workers are not affected: they are spawned with their own argv
// (worker-node-args), never the master's flags.
// Runs in: the `raas` process, from its first lines (master, or a control command / --help run).
//
// --no-turbofan: loading the master's ~60 ES modules makes Node's own path helpers hot enough for
// TurboFan, and the first TurboFan compile pages in ~3.5 MiB of the compiler's code from the node
// binary, counted in the master's RSS for the rest of its life (measured on Node 20: master RSS
// 52.9 -> 49.4 MiB; no difference measured on Node 26). The master's own work (a 100 ms tick, a
// beat per worker per second, the admin listener, the config file's master hooks) is far too
// light to gain from optimized code: its CPU time under load was the same (130-140 ms per 10 s
// of wrk against two workers, with and without). Ignition and Sparkplug remain.

import { setFlagsFromString } from 'node:v8';

export function applyMasterV8Flags(): void {
  setFlagsFromString('--no-turbofan');
}
