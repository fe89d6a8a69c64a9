// Unit: the master's inbox survives a handler that throws (the events behind it are still
// handled, the duties still run), and the loop guard's verdicts over an injected clock.
// Runs in: the test runner process.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Inbox, type LoopStep, type MasterEvent } from '../../src/master/inbox.js';
import { LoopGuard } from '../../src/master/loop-guard.js';

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('inbox', () => {
  it('a throwing handler loses only its own event: the rest of the batch and the duties run', async () => {
    const handled: string[] = [];
    const failures: Array<[string, LoopStep]> = [];
    let duties = 0;
    const inbox = new Inbox(
      (event: MasterEvent) => {
        if (event.kind === 'signal' && event.signal === 'SIGHUP') throw new Error('handler bug');
        handled.push(event.kind === 'signal' ? event.signal : event.kind);
      },
      () => {
        duties += 1;
        if (duties === 1) throw new Error('duty bug');
      },
      (error, during) => failures.push([(error as Error).message, during]),
    );
    inbox.post({ kind: 'signal', signal: 'SIGTTIN' });
    inbox.post({ kind: 'signal', signal: 'SIGHUP' });
    inbox.post({ kind: 'signal', signal: 'SIGTTOU' });
    inbox.post({ kind: 'tick' });
    await settle();
    assert.deepEqual(handled, ['SIGTTIN', 'SIGTTOU', 'tick']);
    assert.deepEqual(failures, [['handler bug', 'signal'], ['duty bug', 'duties']]);
    // The next turn runs as usual.
    inbox.post({ kind: 'tick' });
    await settle();
    assert.deepEqual(handled, ['SIGTTIN', 'SIGTTOU', 'tick', 'tick']);
    assert.equal(duties, 2);
  });

  it('an error reporter that throws too does not stop the turn', async () => {
    const handled: string[] = [];
    const inbox = new Inbox(
      (event) => {
        if (event.kind === 'tick') throw new Error('bug');
        handled.push(event.kind);
      },
      () => {},
      () => {
        throw new Error('the log is broken too');
      },
    );
    inbox.post({ kind: 'tick' });
    inbox.post({ kind: 'signal', signal: 'SIGHUP' });
    await settle();
    assert.deepEqual(handled, ['signal']);
  });
});

describe('loop guard', () => {
  it('carries on through scattered errors, stops at `limit` within the window, abandons if errors go on', () => {
    const guard = new LoopGuard(3, 1_000);
    assert.equal(guard.record(0), 'carry-on');
    assert.equal(guard.record(600), 'carry-on');
    assert.equal(guard.record(1_500), 'carry-on', 'the first error left the window');
    assert.equal(guard.record(1_550), 'stop');
    assert.equal(guard.record(1_900), 'carry-on');
    assert.equal(guard.record(50_000), 'carry-on');
    assert.equal(guard.record(90_000), 'abandon');
  });
});
