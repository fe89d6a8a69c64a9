// The Prometheus text exposition (format 0.0.4) of the master's status report: its snapshot of the
// workers (master/stats/snapshot.ts) with their gauges, and the counters.
// Runs in: master (called by the admin server, at most once per sample interval: the text is
// cached with the report it was made from).

import { EXIT_REASONS, type StatusReport } from '../master/stats/stats.js';
import { WORKER_VIEW_STATES } from '../master/stats/snapshot.js';
import { STATUS_CLASSES } from '../ipc.js';

type Labels = Record<string, string | number>;

/** Label values escaped as the format asks: backslash, double quote, newline. */
function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(
    ([k, v]) => `${k}="${String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`,
  );
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function num(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  return String(n);
}

class Exposition {
  private readonly out: string[] = [];

  family(name: string, type: 'counter' | 'gauge' | 'summary', help: string, samples: Array<[Labels, number]>): void {
    this.out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) this.out.push(`${name}${labelText(labels)} ${num(value)}`);
  }

  raw(lines: string[]): void {
    this.out.push(...lines);
  }

  text(): string {
    return this.out.join('\n') + '\n';
  }
}

/** The newest generation's worker per slot: gauges are labelled by slot and must not repeat. */
function workersBySlot(report: StatusReport): StatusReport['workers'] {
  const bySlot = new Map<number, StatusReport['workers'][number]>();
  for (const w of report.workers) {
    const seen = bySlot.get(w.slot);
    if (!seen || w.generation >= seen.generation) bySlot.set(w.slot, w);
  }
  return [...bySlot.values()];
}

/**
 * The per-listener, per-slot counters, with a zero for every pair known now that has counted
 * nothing yet (each listener with each slot the master keeps or runs): a counter must exist before
 * its first event, or Prometheus's rate() misses that event.
 */
function countersWithZeros(report: StatusReport): StatusReport['counters'] {
  const slots = new Set<number>(report.workers.map((w) => w.slot));
  for (let slot = 0; slot < report.master.targetWorkers; slot++) slots.add(slot);
  const seen = new Set(report.counters.map((x) => `${x.listener}\n${x.slot}`));
  const zeros: StatusReport['counters'] = [];
  for (const l of report.listeners) {
    for (const slot of slots) {
      if (!seen.has(`${l.address}\n${slot}`)) zeros.push({ listener: l.address, protocol: l.protocol, slot, requests: 0, connections: 0, errors: 0 });
    }
  }
  if (zeros.length === 0) return report.counters;
  return [...report.counters, ...zeros].sort((a, b) => (a.listener < b.listener ? -1 : a.listener > b.listener ? 1 : a.slot - b.slot));
}

export function renderMetrics(report: StatusReport): string {
  const e = new Exposition();
  const c = countersWithZeros(report);
  const byWorker = (w: { listener: string; protocol: string; slot: number }): Labels => ({ listener: w.listener, protocol: w.protocol, worker: w.slot });
  e.family('raas_requests_total', 'counter', 'Requests answered: HTTP requests, and line-protocol connections answered.', c.map((x) => [byWorker(x), x.requests]));
  e.family('raas_connections_total', 'counter', 'Connections accepted.', c.map((x) => [byWorker(x), x.connections]));
  e.family('raas_request_errors_total', 'counter', 'Requests answered with an error (HTTP 5xx, line ERR) or abandoned unanswered.', c.map((x) => [byWorker(x), x.errors]));
  // HTTP only: every class of every HTTP listener and slot, zeros included (as above, for rate()).
  const http = c.filter((x) => x.protocol.startsWith('http'));
  e.family(
    'raas_http_responses_total',
    'counter',
    'HTTP requests answered, by status class (1xx..5xx); their sum over class is the HTTP part of raas_requests_total.',
    http.flatMap((x) => STATUS_CLASSES.map((cls) => [{ ...byWorker(x), class: cls }, x.http?.statusClasses[cls] ?? 0] as [Labels, number])),
  );
  e.family('raas_http_upgrades_total', 'counter', 'HTTP requests handed to an upgrade handler (WebSocket handshakes), not counted as requests.', http.map((x) => [byWorker(x), x.http?.upgrades ?? 0]));

  e.raw(['# HELP raas_request_duration_seconds Request latency: accept to answer (line), request to response end (HTTP).', '# TYPE raas_request_duration_seconds histogram']);
  for (const l of report.listeners) {
    const labels = { listener: l.address, protocol: l.protocol };
    let cumulative = 0;
    l.latency.counts.forEach((n, i) => {
      cumulative += n;
      const le = i < l.latency.bucketsSeconds.length ? String(l.latency.bucketsSeconds[i]) : '+Inf';
      e.raw([`raas_request_duration_seconds_bucket${labelText({ ...labels, le })} ${cumulative}`]);
    });
    e.raw([
      `raas_request_duration_seconds_sum${labelText(labels)} ${num(l.latency.sum)}`,
      `raas_request_duration_seconds_count${labelText(labels)} ${cumulative}`,
    ]);
  }

  const queue = (pick: (l: StatusReport['listeners'][number]) => number | null): Array<[Labels, number]> =>
    report.listeners.flatMap((l) => (pick(l) === null ? [] : [[{ listener: l.address }, pick(l)!] as [Labels, number]]));
  e.family('raas_listen_queue_depth', 'gauge', 'Connections waiting in the kernel accept queue (absent when unknown).', queue((l) => l.queueDepth));
  e.family('raas_listen_queue_max', 'gauge', 'The accept queue limit (listen backlog as the kernel applies it).', queue((l) => l.queueMax));
  e.family('raas_listen_queue_peak', 'gauge', 'Highest accept-queue depth sampled since the master started.', queue((l) => l.queuePeak));

  const restarts = new Map<string, number>(EXIT_REASONS.map((reason) => [reason, 0]));
  for (const [reason, n] of Object.entries(report.restarts)) restarts.set(reason, n);
  e.family('raas_worker_restarts_total', 'counter', 'Worker exits, by the reason the master recorded.', [...restarts].map(([reason, n]) => [{ reason }, n]));
  const states = new Map<string, number>(WORKER_VIEW_STATES.map((state) => [state, 0]));
  for (const w of report.workers) states.set(w.state, (states.get(w.state) ?? 0) + 1);
  e.family('raas_workers', 'gauge', 'Worker processes by state.', [...states].map(([state, n]) => [{ state }, n]));
  e.family('raas_workers_wanted', 'gauge', 'The number of workers the master keeps.', [[{}, report.master.targetWorkers]]);
  const scaling = report.scaling;
  e.family('raas_workers_target', 'gauge', 'The number of workers the master wants now (moved by max-workers within its bounds).', [[{}, report.master.targetWorkers]]);
  e.family('raas_workers_bound', 'gauge', 'The fewest and most workers the elastic policy may want (equal on a fixed pool).', [
    [{ bound: 'min' }, scaling.min],
    [{ bound: 'max' }, scaling.max],
  ]);
  e.family('raas_scale_decisions_total', 'counter', 'Workers added or removed by the elastic policy (max-workers).', [
    [{ direction: 'up' }, scaling.ups],
    [{ direction: 'down' }, scaling.downs],
  ]);
  e.family('raas_scale_held_total', 'counter', 'Scale-ups refused because the memory the master can see would not hold another worker.', [[{}, scaling.heldForMemory]]);
  e.family('raas_generation', 'gauge', 'The configuration generation (incremented by every reload).', [[{}, report.master.generation]]);

  const live = workersBySlot(report);
  const gauge = (pick: (w: StatusReport['workers'][number]) => number | null, scale = 1): Array<[Labels, number]> =>
    live.flatMap((w) => (pick(w) === null ? [] : [[{ worker: w.slot }, pick(w)! * scale] as [Labels, number]]));
  e.family('raas_worker_resident_memory_bytes', 'gauge', 'Resident set size of each worker.', gauge((w) => w.rss));
  e.family('raas_worker_heap_used_bytes', 'gauge', 'V8 heap used by each worker.', gauge((w) => w.heapUsed));
  e.family('raas_worker_event_loop_utilization', 'gauge', 'Share of the last beat interval the worker event loop was busy (0..1).', gauge((w) => w.elu));
  e.family(
    'raas_event_loop_delay_seconds',
    'summary',
    'Event-loop delay of each worker over the last beat interval (quantile 0.99 only).',
    live.flatMap((w) => (w.loopDelayP99Ms === null ? [] : [[{ worker: w.slot, quantile: '0.99' }, w.loopDelayP99Ms / 1000] as [Labels, number]])),
  );
  e.family('raas_worker_in_flight_requests', 'gauge', 'Requests being served by each worker now.', gauge((w) => w.inFlight));
  e.family('raas_worker_open_connections', 'gauge', 'Connections open in each worker now (idle keep-alive included).', gauge((w) => w.openConnections));
  e.family('raas_worker_uptime_seconds', 'gauge', 'Seconds since each worker was spawned.', gauge((w) => w.ageSeconds));
  e.family('raas_worker_generation', 'gauge', 'The configuration generation each worker runs.', gauge((w) => w.generation));

  e.family('raas_reloads_total', 'counter', 'Reloads (HUP) by outcome.', Object.entries(report.reloads).map(([outcome, n]) => [{ outcome }, n]));
  e.family('raas_upgrades_total', 'counter', 'Binary upgrades (USR2): started, and failed before the new master was ready.', Object.entries(report.upgrades).map(([outcome, n]) => [{ outcome }, n]));
  e.family('raas_master_resident_memory_bytes', 'gauge', 'Resident set size of the master.', [[{}, report.master.rss]]);
  e.family('raas_master_heap_used_bytes', 'gauge', 'V8 heap used by the master.', [[{}, report.master.heapUsed]]);
  e.family('raas_master_uptime_seconds', 'gauge', 'Seconds since the master started.', [[{}, report.master.uptimeSeconds]]);
  return e.text();
}
