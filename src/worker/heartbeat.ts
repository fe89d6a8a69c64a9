// The worker's heartbeat: a beat on the master channel every interval while the event loop runs.
// Runs in: workers.
//
// A worker whose loop is blocked (an infinite loop, a synchronous call that never returns) runs
// no timers, so its beats stop and the master kills it with SIGKILL after `timeout`: the only
// signal such a process still obeys.

import type { WorkerMessage } from '../ipc.js';

const BEAT: WorkerMessage = { type: 'beat' };

export function startHeartbeat(intervalMs: number, send: (m: WorkerMessage) => void): () => void {
  send(BEAT);
  const timer = setInterval(() => send(BEAT), intervalMs);
  return () => clearInterval(timer);
}
