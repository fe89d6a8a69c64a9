// The master's single inbox: every signal, worker message, worker exit and timer tick becomes a
// typed event here, and the master handles them one at a time, then does its duties once.
// Runs in: master.
//
// Why the turn runs from setImmediate: libuv runs timers, then polls I/O, then immediates. A
// timer tick and the heartbeats that arrived in the same loop iteration therefore land in one
// batch, and the duties (which may kill a silent worker) only run after every beat was counted.
// Without this, a master resumed after SIGSTOP would see its tick before the queued beats and
// kill healthy workers.
//
// A handler that throws must not take the master down (and every worker with it): the error is
// reported to `failed` and the turn goes on with the next event, so no event queued behind the
// one that failed is lost.

import type { ResolvedConfig } from '../config/load.js';
import type { BoundListener } from './listeners/listeners.js';
import type { WorkerMessage } from '../ipc.js';

export type MasterEvent =
  | { kind: 'signal'; signal: NodeJS.Signals }
  | { kind: 'tick' }
  | { kind: 'worker-message'; id: number; message: WorkerMessage }
  | { kind: 'worker-exit'; id: number; code: number | null; signal: NodeJS.Signals | null; error?: Error }
  | { kind: 'config-loaded'; attempt: number; config: ResolvedConfig; listeners: BoundListener[] }
  | { kind: 'config-refused'; attempt: number; error: string }
  | { kind: 'successor-ready'; pid: number }
  | { kind: 'successor-exit'; pid: number; code: number | null; signal: NodeJS.Signals | null }
  | { kind: 'file-changed'; path: string };

/** What was running when the loop caught an error: an event's kind, or 'duties'. */
export type LoopStep = MasterEvent['kind'] | 'duties';

export class Inbox {
  private readonly queue: MasterEvent[] = [];
  private scheduled = false;

  constructor(
    private readonly handle: (event: MasterEvent) => void,
    private readonly duties: () => void,
    private readonly failed: (error: unknown, during: LoopStep) => void,
  ) {}

  post(event: MasterEvent): void {
    this.queue.push(event);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.turn());
  }

  private turn(): void {
    this.scheduled = false;
    for (let event = this.queue.shift(); event !== undefined; event = this.queue.shift()) {
      this.guarded(() => this.handle(event), event.kind);
    }
    this.guarded(() => this.duties(), 'duties');
  }

  private guarded(step: () => void, during: LoopStep): void {
    try {
      step();
    } catch (error) {
      try {
        this.failed(error, during);
      } catch {
        // Reporting failed too (the log itself?): the loop must still turn.
      }
    }
  }
}
