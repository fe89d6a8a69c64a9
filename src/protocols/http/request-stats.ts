// Counts HTTP requests for the worker's stats: begun, answered (with latency and 5xx as error)
// or abandoned (the client left, the connection broke before the response ended).
// Runs in: workers.

import type * as http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { ProtocolStats } from '../types.js';

const kStart = Symbol('raas.requestStart');
const kListener = Symbol('raas.requestListener');
type CountedResponse = http.ServerResponse & { [kStart]: number; [kListener]: number };

/**
 * Returns the per-request call. It costs two properties and one 'close' listener (a shared
 * function) per response: node emits 'close' on every response, finished or not.
 */
export function requestCounter(stats: ProtocolStats): (listener: number, res: http.ServerResponse) => void {
  function onClose(this: CountedResponse): void {
    if (this.writableFinished) {
      stats.answered(this[kListener], (performance.now() - this[kStart]) / 1000, this.statusCode >= 500, this.statusCode);
    } else {
      stats.abandoned(this[kListener]);
    }
  }
  return (listener, res) => {
    stats.started(listener);
    const counted = res as CountedResponse;
    counted[kStart] = performance.now();
    counted[kListener] = listener;
    res.on('close', onClose);
  };
}
