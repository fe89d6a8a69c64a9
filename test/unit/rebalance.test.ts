// Unit: the keep-alive rebalancing rules (master/stats/rebalance.ts): which worker sheds, and when the
// split is worth judging.
// Runs in: the test runner process.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HOLD_STILL_MS, heldStill, shedOrder, type TotalWatch } from '../../src/master/stats/rebalance.js';

const workers = (...open: number[]) => open.map((n, id) => ({ id, open: n }));

describe('shedOrder', () => {
  it('asks the heaviest worker for its excess over the mean, rounded up', () => {
    assert.deepEqual(shedOrder(workers(45, 6)), { id: 0, connections: 19, target: 26 });
    assert.deepEqual(shedOrder(workers(7, 43)), { id: 1, connections: 18, target: 25 });
    assert.deepEqual(shedOrder(workers(20, 0)), { id: 0, connections: 10, target: 10 });
    assert.deepEqual(shedOrder(workers(10, 10, 40)), { id: 2, connections: 20, target: 20 });
  });

  it('leaves a fair split alone: within 1.05x the mean, or fewer than 2 over it', () => {
    assert.equal(shedOrder(workers(26, 24)), null); // 1 over the mean
    assert.deepEqual(shedOrder(workers(27, 23)), { id: 0, connections: 2, target: 25 }); // 27 > 26.25, 2 over
    assert.equal(shedOrder(workers(42, 40, 38)), null); // 42 <= 42 (1.05 x 40)
    assert.deepEqual(shedOrder(workers(43, 40, 37)), { id: 0, connections: 3, target: 40 });
    assert.equal(shedOrder(workers(2, 0)), null); // 1 over the mean
    assert.equal(shedOrder(workers(0, 0)), null);
    assert.equal(shedOrder(workers(25, 25)), null);
  });

  it('needs two workers', () => {
    assert.equal(shedOrder(workers(50)), null);
    assert.equal(shedOrder([]), null);
  });
});

describe('heldStill', () => {
  it('is true once the total has stayed within 2 (or a tenth) for HOLD_STILL_MS', () => {
    const watch: TotalWatch = { total: 0, since: 0 };
    assert.equal(heldStill(watch, workers(13, 1), 1000), false, '0 -> 14');
    assert.equal(heldStill(watch, workers(30, 10), 2000), false, '14 -> 40');
    assert.equal(heldStill(watch, workers(36, 15), 3000), false, '40 -> 51');
    assert.equal(heldStill(watch, workers(35, 17), 3000 + HOLD_STILL_MS - 1), false, '52: within 5 of 51, not yet a beat');
    assert.equal(heldStill(watch, workers(33, 17), 3000 + HOLD_STILL_MS), true, '50: still within 5 of 51');
    assert.equal(heldStill(watch, workers(200, 180), 9000), false, 'a new burst restarts the watch');
    assert.equal(heldStill(watch, workers(200, 200), 9000 + HOLD_STILL_MS), true, 'moved 20 from 380: under a tenth of 400');
  });
});
