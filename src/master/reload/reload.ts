// HUP as a small state machine: idle -> loading config -> rolling -> done | aborted (or refused
// while loading). A HUP that arrives while a reload runs is queued, several coalesce into one,
// and it runs once the current one ends: a second config edit is never lost. Every reload is
// recorded with the requests it covers, so `raas reload` reports its own reload's outcome.
// Runs in: master.
//
// Loading the config and binding new sockets are asynchronous; their result comes back through
// the inbox as one event, tagged with the attempt it belongs to: a result that arrives after its
// deadline (a config module that awaited forever, then finished) is dropped, its sockets closed.
//
// The reload never changes the master's state itself: it reads the current Desired and returns
// orders (ReloadOrders) that the master's loop carries out: the Desired to install (the new
// generation, or the previous one an abort restores) and the generation whose workers must go.

import type { ResolvedConfig } from '../../config/load.js';
import { LOG, type Logger } from '../../log.js';
import { nextGeneration, type Desired, type DesiredNow } from '../desired.js';
import type { MasterEvent } from '../inbox.js';
import { reconcileListeners, type BoundListener } from '../listeners/listeners.js';
import type { System } from '../system.js';
import { errorMessage } from '../../errors.js';

/** New-generation boot failures after which a reload is aborted. */
const MAX_RELOAD_BOOT_FAILURES = 3;
/** Reload outcomes kept in the status file. */
const HISTORY = 16;

export type ReloadOutcome = 'done' | 'aborted' | 'refused';

export interface ReloadRecord {
  /** This reload's number (1, 2, ...). */
  id: number;
  /** HUPs counted up to the moment it began loading the config: it answers every one of them. */
  covers: number;
  outcome: ReloadOutcome;
  error: string | null;
  generation: number;
}

/** What the status file shows (and `raas reload` reads). */
export interface ReloadStatus {
  /** HUPs counted. */
  requested: number;
  /** Reloads begun (config load started) and ended. */
  started: number;
  finished: number;
  done: number;
  aborted: number;
  refused: number;
  lastError: string | null;
  /** The last few reloads, oldest first. */
  history: ReloadRecord[];
}

export interface ReloadHost {
  readonly system: System;
  readonly log: Logger;
  readonly desired: DesiredNow;
  loadConfig(): Promise<ResolvedConfig>;
  /** Sockets from systemd: fixed, never rebound. */
  readonly listenersFixed: boolean;
  post(event: MasterEvent): void;
  /** Every slot of the desired generation has a ready worker. */
  generationReady(): boolean;
}

/** What a reload asks of the master's loop, which alone changes the master's state. */
export interface ReloadOrders {
  /** The workers of this generation must go (an aborted reload's: ready ones drain, booting ones die). */
  abandon?: number;
  /** Then this becomes the Desired: the new generation, or the one an abort restores. */
  install?: Desired;
}

const NOTHING: ReloadOrders = Object.freeze({});

type State =
  | { kind: 'idle' }
  | { kind: 'loading'; attempt: number; covers: number; deadline: number }
  | { kind: 'rolling'; attempt: number; covers: number; previous: Desired; deadline: number; bootFailures: number };

export class Reload {
  private state: State = { kind: 'idle' };
  /** HUPs counted but not yet covered by a reload that began. */
  private queued = false;
  readonly status: ReloadStatus = { requested: 0, started: 0, finished: 0, done: 0, aborted: 0, refused: 0, lastError: null, history: [] };

  constructor(private readonly host: ReloadHost) {}

  get busy(): boolean {
    return this.state.kind !== 'idle';
  }

  get phase(): State['kind'] {
    return this.state.kind;
  }

  /** HUP. A stopping master counts it and refuses it at once, so that `raas reload` hears back. */
  request(now: number, stopping = false): void {
    this.status.requested += 1;
    if (stopping) {
      this.host.log.warn(LOG.RELOAD_REFUSED, { error: 'the master is stopping' });
      return this.record('refused', 'the master is stopping', this.status.requested);
    }
    if (this.state.kind === 'idle') return this.begin(now);
    this.queued = true;
    this.host.log.info(LOG.RELOAD_QUEUED, { behind: this.state.kind, requested: this.status.requested });
  }

  loaded(event: Extract<MasterEvent, { kind: 'config-loaded' }>, now: number): ReloadOrders {
    const state = this.state;
    const previous = this.host.desired();
    if (state.kind !== 'loading' || state.attempt !== event.attempt) {
      // Too late (refused at its deadline, or the master began to stop): drop what it bound.
      this.closeDropped(event.listeners, previous.listeners);
      return NOTHING;
    }
    const { settings, hooks, workerEnv } = event.config;
    const next = nextGeneration(previous, settings, hooks, event.listeners, workerEnv);
    this.setLogPath(settings.logFile);
    this.state = { kind: 'rolling', attempt: state.attempt, covers: state.covers, previous, deadline: now + settings.bootTimeout * 1000, bootFailures: 0 };
    this.host.log.info(LOG.RELOAD_START, { gen: next.generation, workers: next.target });
    this.host.post({ kind: 'tick' });
    return { install: next };
  }

  refused(event: Extract<MasterEvent, { kind: 'config-refused' }>, now: number): void {
    if (this.state.kind !== 'loading' || this.state.attempt !== event.attempt) return;
    this.finish('refused', event.error);
  }

  /** A worker of the desired generation failed at boot. */
  bootFailed(generation: number): void {
    if (this.state.kind === 'rolling' && generation === this.host.desired().generation) this.state.bootFailures += 1;
  }

  /** Duties: end the reload when its workers are ready, or abort it; refuse a load past its deadline. */
  advance(now: number): ReloadOrders {
    // A HUP queued behind an aborted reload: it begins from the Desired the master installed
    // since (the restored one, never the abandoned generation's).
    if (this.state.kind === 'idle' && this.queued) this.begin(now);
    const state = this.state;
    if (state.kind === 'loading') {
      if (now < state.deadline) return NOTHING;
      const seconds = this.host.desired().settings.bootTimeout;
      this.finish('refused', `the config did not finish loading within ${seconds} s (boot-timeout); is the config module awaiting forever?`);
    } else if (state.kind === 'rolling') {
      const desired = this.host.desired();
      if (this.host.generationReady()) {
        this.closeDropped(state.previous.listeners, desired.listeners);
        this.host.log.info(LOG.RELOAD_DONE, { gen: desired.generation, workers: desired.target, listen: desired.listeners.map((l) => l.bound).join(',') });
        this.finish('done', null);
        return NOTHING;
      }
      const failed = state.bootFailures >= MAX_RELOAD_BOOT_FAILURES;
      if (!failed && now < state.deadline) return NOTHING;
      return this.abort(state, failed ? `new workers failed to boot ${state.bootFailures} times` : 'boot-timeout');
    }
    return NOTHING;
  }

  /** The master begins to stop: nothing pending will run, and a reload in flight ends here. */
  stop(now: number): void {
    const state = this.state;
    if (state.kind !== 'idle' || this.queued) this.host.log.warn(LOG.RELOAD_REFUSED, { error: 'the master is stopping', during: state.kind });
    if (state.kind === 'rolling') {
      this.closeDropped(state.previous.listeners, this.host.desired().listeners);
      this.finish('aborted', 'the master is stopping', undefined, true);
    } else if (state.kind === 'loading') {
      this.finish('refused', 'the master is stopping', undefined, true);
    }
    if (this.queued) {
      this.queued = false;
      this.record('refused', 'the master is stopping', this.status.requested);
    }
  }

  private begin(now: number): void {
    this.queued = false;
    this.status.started += 1;
    const attempt = this.status.started;
    this.state = { kind: 'loading', attempt, covers: this.status.requested, deadline: now + this.host.desired().settings.bootTimeout * 1000 };
    const { host } = this;
    const current = host.desired().listeners;
    host
      .loadConfig()
      .then(async (config) => {
        // A log file that cannot be opened refuses the reload here, before anything changes.
        if (config.settings.logFile !== null) host.system.probeAppend(config.settings.logFile);
        const listeners = host.listenersFixed ? [...current] : await reconcileListeners(current, config.settings.listen, host.system.bind);
        host.post({ kind: 'config-loaded', attempt, config, listeners });
      })
      .catch((err: unknown) => host.post({ kind: 'config-refused', attempt, error: errorMessage(err) }));
  }

  /** The new generation goes and the previous Desired comes back, with its log file and sockets. */
  private abort(state: Extract<State, { kind: 'rolling' }>, reason: string): ReloadOrders {
    const abandoned = this.host.desired();
    const restored = state.previous;
    this.host.log.error(LOG.RELOAD_ABORTED, { gen: abandoned.generation, reason });
    this.setLogPath(restored.settings.logFile);
    this.closeDropped(abandoned.listeners, restored.listeners);
    // Recorded against the restored generation, as it was when the master changed its state in place.
    this.finish('aborted', reason, restored.generation);
    return { abandon: abandoned.generation, install: restored };
  }

  /**
   * The reload ends, and a queued HUP begins at once, except after an abort: that one begins at
   * the next duties (advance), once the master has installed the Desired the abort restores.
   */
  private finish(outcome: ReloadOutcome, error: string | null, generation = this.host.desired().generation, stopping = false): void {
    const covers = this.state.kind === 'idle' ? this.status.requested : this.state.covers;
    if (outcome === 'refused' && !stopping) this.host.log.error(LOG.RELOAD_REFUSED, { error: error ?? undefined });
    this.state = { kind: 'idle' };
    this.record(outcome, error, covers, generation);
    if (!stopping && outcome !== 'aborted' && this.queued) this.begin(this.host.system.clock());
  }

  private record(outcome: ReloadOutcome, error: string | null, covers: number, generation = this.host.desired().generation): void {
    const s = this.status;
    s.finished += 1;
    s[outcome] += 1;
    if (error !== null) s.lastError = error;
    s.history.push({ id: s.finished, covers, outcome, error, generation });
    if (s.history.length > HISTORY) s.history.shift();
  }

  /** Points the log at the (new or restored) log file; if it cannot be opened, logging stays put. */
  private setLogPath(path: string | null): void {
    try {
      this.host.log.setPath(path);
    } catch (err) {
      this.host.log.error(LOG.CONFIG_ERROR, { setting: 'log-file', error: errorMessage(err) });
    }
  }

  /**
   * Closes the master's copy of sockets no longer configured. Workers still holding them keep
   * them open until they drain and exit.
   */
  private closeDropped(before: readonly BoundListener[], after: readonly BoundListener[]): void {
    for (const listener of before) {
      if (after.includes(listener)) continue;
      this.host.system.closeListener(listener);
      this.host.log.info(LOG.LISTENER_CLOSED, { listen: listener.bound });
    }
  }
}
