// The worker's heartbeat: a beat on the master channel every interval while the event loop runs.
// Runs in: workers.
//
// A worker whose loop is blocked (an infinite loop, a synchronous call that never returns) runs
// no timers, so its beats stop and the master kills it with SIGKILL after `timeout`: the only
// signal such a process still obeys.

import type { WorkerMessage, WorkerStats } from '../ipc.js';

/** Each beat carries `stats()`, the worker's counters at that moment. */
export function startHeartbeat(intervalMs: number, send: (m: WorkerMessage) => void, stats: () => WorkerStats): () => void {
  const beat = (): void => {
    // The beat is what keeps the worker alive: counters that cannot be read never stop it.
    let snapshot: WorkerStats | undefined;
    try {
      snapshot = stats();
    } catch {
      snapshot = undefined;
    }
    send({ type: 'beat', stats: snapshot });
  };
  beat();
  const timer = setInterval(beat, intervalMs);
  return () => clearInterval(timer);
}
