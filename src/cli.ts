#!/usr/bin/env node
// The `raas` command's entry. Its first instructions install signal handlers (see
// master/early-signals.ts); everything else is loaded afterwards with a dynamic import(), because
// ESM evaluates every static import before the first line of a module runs.
// Runs in: the `raas` process (a master, or briefly a control command or --help).
//
// What remains unprotected is Node's own bootstrap, before any JavaScript runs (a few tens of
// milliseconds): a USR1 then still starts the inspector and a HUP still kills (docs/SIGNALS.md).

import { installEarlySignals } from './master/early-signals.js';
import { applyMasterV8Flags } from './master/v8-flags.js';

installEarlySignals();
applyMasterV8Flags();
const { main } = await import('./cli-main.js');
await main(process.argv.slice(2));
