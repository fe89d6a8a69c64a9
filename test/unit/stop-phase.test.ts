// Unit: the stop phase alone (src/master/stop/stop.ts): it reads the workers through a view and
// returns orders; nothing here sends a signal. The master's loop carrying them out is tested in
// master.test.ts and master-reload.test.ts.
// Runs in: the test runner process.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { firstDesired } from '../../src/master/desired.js';
import { Stop, type StoppingWorker } from '../../src/master/stop/stop.js';
import { LOG, Logger, parseLine } from '../../src/log.js';
import { fakeSystem } from './fake-system.js';
import { listener, settings } from './master-harness.js';

function setUp(opts: { shared?: boolean } = {}) {
  let now = 10_000;
  const fake = fakeSystem({ clock: () => now });
  const logFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'raas-stop-')), 'master.log');
  const log = new Logger({ role: 'master' }, logFile);
  const desired = firstDesired(settings(), {}, [listener('127.0.0.1:1'), listener('127.0.0.1:2')]);
  const workers: StoppingWorker[] = [];
  const host = { system: fake.system, log, desired: () => desired, workers: () => workers, socketsShared: () => opts.shared ?? false };
  const worker = (id: number): StoppingWorker & { stopOrder: StoppingWorker['stopOrder']; stopSentAt: number } => {
    const w = { id, stopOrder: null, stopSentAt: 0, handle: { pid: 100 + id, send() {}, kill() {} } };
    workers.push(w);
    return w;
  };
  const events = (name: string) =>
    fs.readFileSync(logFile, 'utf8').split('\n').filter(Boolean).map(parseLine).filter((e) => e.event === name);
  return { fake, host, workers, worker, events, advanceBy: (ms: number) => (now += ms), now: () => now };
}

describe('the stop phase: a state machine that returns orders', () => {
  it('QUIT: one graceful order to every worker and the listeners closed at once; done only when none is left', () => {
    const t = setUp();
    t.worker(1);
    t.worker(2);
    const stop = new Stop(t.host, 'graceful', null, 0);
    assert.deepEqual(t.fake.closed, [], 'nothing happens before begin()');
    assert.deepEqual(stop.begin(), [{ to: 'all', order: 'graceful', reason: 'shutdown' }]);
    assert.equal(t.fake.closed.length, 2);
    assert.deepEqual(stop.advance(t.advanceBy(60_000)), { orders: [], done: false }, 'unbounded: a graceful stop never escalates by itself');
    t.workers.length = 0;
    assert.deepEqual(stop.advance(t.now()), { orders: [], done: true });
  });

  it('a second QUIT changes nothing; TERM after QUIT makes it immediate; INT after that changes nothing', () => {
    const t = setUp();
    t.worker(1);
    const stop = new Stop(t.host, 'graceful', null, 0);
    stop.begin();
    assert.deepEqual(stop.again('graceful', null, 0, 0), []);
    assert.deepEqual(stop.again('graceful', 30_000, 0, 0), [{ to: 'all', order: 'immediate', reason: 'shutdown' }]);
    assert.deepEqual(stop.again('immediate', null, 0, 0), []);
  });

  it('an immediate order not obeyed within a second becomes a kill, for that worker only', () => {
    const t = setUp();
    const slow = t.worker(1);
    const quick = t.worker(2);
    const stop = new Stop(t.host, 'immediate', null, 0);
    stop.begin();
    slow.stopOrder = 'immediate';
    slow.stopSentAt = t.now();
    quick.stopOrder = 'immediate';
    quick.stopSentAt = t.now() + 600;
    assert.deepEqual(stop.advance(t.advanceBy(1000)).orders, [], 'not yet: a second is not over');
    assert.deepEqual(stop.advance(t.advanceBy(1)).orders, [{ to: 1, order: 'kill', reason: 'shutdown' }]);
  });

  it('TERM: at shutdown-timeout every worker left is killed, once, and the escalation is logged with their pids', () => {
    const t = setUp();
    t.worker(1);
    t.worker(2);
    const stop = new Stop(t.host, 'graceful', 5_000, 0);
    stop.begin();
    assert.deepEqual(stop.advance(t.advanceBy(4_999)).orders, []);
    assert.deepEqual(stop.advance(t.advanceBy(1)), { orders: [{ to: 'all', order: 'kill', reason: 'shutdown-timeout' }], done: false });
    assert.deepEqual(stop.advance(t.advanceBy(1_000)).orders, [], 'the deadline fires once');
    const [escalated] = t.events(LOG.STOP_ESCALATE);
    assert.ok(escalated, 'STOP_ESCALATE logged');
    assert.equal(escalated.pids, '101,102');
  });

  it('a stop while another master serves from our sockets closes none of them', () => {
    const t = setUp({ shared: true });
    const stop = new Stop(t.host, 'graceful', null, 0);
    stop.begin();
    stop.closeListeners();
    assert.deepEqual(t.fake.closed, []);
  });

  it('the exit code: a later stop with its own code replaces the first one', () => {
    const t = setUp();
    const stop = new Stop(t.host, 'graceful', null, 0);
    stop.begin();
    stop.again('immediate', null, 7, 0);
    assert.equal(stop.exitCode, 7);
  });
});
