// What the admin listener's GET /healthz answers: the instance's own health, read from the
// master's snapshot (the same one the status file carries), never from a worker or the app.
// Runs in: master (the admin listener calls it for every /healthz request).
//
// 200 while this instance serves: the master is up (it answers at all), not stopping, not in
// lame duck, and at least one worker of the current generation is ready. 503 from the first
// instant of a lame duck or a stop, and while no worker is ready. Why the snapshot is read per
// request and not the stats report: the report is cached for up to a second, and a balancer
// must see the lame duck from the turn of the master's loop that began it.

import type { MasterStatus } from '../master/files/status-file.js';

export interface Health {
  ok: boolean;
  /** Why, in a word: ready, lame-duck, stopping, no-worker-ready, successor. */
  reason: 'ready' | 'lame-duck' | 'stopping' | 'no-worker-ready' | 'successor';
  phase: MasterStatus['phase'];
  generation: number;
  targetWorkers: number;
  /** Ready workers of the current generation. */
  readyWorkers: number;
  /** Ready workers of the generation a HUP replaces, still serving until their successors are ready. */
  readyPrevious: number;
}

export function healthOf(status: MasterStatus): Health {
  let readyWorkers = 0;
  let readyPrevious = 0;
  // A row is 'ready' only while its worker serves: one told to stop (drain, reload, scale-down,
  // an aborted generation) or retiring after a crash is 'stopping' (snapshot.ts).
  for (const w of status.workers) {
    if (w.state !== 'ready') continue;
    if (w.generation === status.generation) readyWorkers += 1;
    else if (w.generation < status.generation) readyPrevious += 1;
  }
  const base = { phase: status.phase, generation: status.generation, targetWorkers: status.target, readyWorkers, readyPrevious };
  // A USR2 successor that is ready serves from our very sockets: while we drain (or sit with our
  // workers stopped by WINCH) the address still serves, and it holds our admin address only
  // once we have exited. Failing the check meanwhile would take the whole instance out of rotation.
  if (status.successor?.ready === true) return { ok: true, reason: 'successor', ...base };
  if (status.phase === 'lame-duck') return { ok: false, reason: 'lame-duck', ...base };
  if (status.phase === 'stopping') return { ok: false, reason: 'stopping', ...base };
  // During a HUP the new generation is the current one from the moment its config loaded, while
  // the old workers still serve until each one's successor is ready: they count, or every reload
  // (and every reload whose new workers cannot boot, which RAAS aborts) would fail the check.
  if (readyWorkers + readyPrevious === 0) return { ok: false, reason: 'no-worker-ready', ...base };
  return { ok: true, reason: 'ready', ...base };
}
