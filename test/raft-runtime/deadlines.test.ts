import { describe, expect, it } from 'vitest';
import { RaftError } from '../../src/raft/core/index.js';
import type { DriverClock } from '../../src/raft/runtime/driver-io.js';
import { Proposals } from '../../src/raft/runtime/proposals.js';
import { ReadBarriers } from '../../src/raft/runtime/read-barriers.js';

/** A clock the test moves by hand; nothing runs by itself. */
function manualClock(): DriverClock & { at: number } {
  const clock = {
    at: 1000,
    now: () => clock.at,
    after: () => () => {},
    soon: (run: () => void) => run(),
  };
  return clock;
}

function outcome(): { done: (err: unknown) => void; result: () => unknown } {
  let seen: unknown = 'pending';
  return {
    done: (err) => {
      seen = err === null ? 'ok' : err;
    },
    result: () => seen,
  };
}

describe('deadlines swept by the tick', () => {
  it('times a proposal out once the sweep reaches its deadline, not before', () => {
    const clock = manualClock();
    const proposals = new Proposals({ nodeId: 'n1', token: new Uint8Array(8), clock, propose: () => {} });
    const o = outcome();
    proposals.propose(new Uint8Array([1]), { timeoutMs: 250 }, o.done);
    proposals.expire(clock.at + 249);
    expect(o.result()).toBe('pending');
    proposals.expire(clock.at + 250);
    expect(o.result()).toMatchObject({ code: 'TIMEOUT' });
    expect(proposals.size).toBe(0);
  });

  it('gives a proposal no leader took NOT_REACHABLE at its deadline', () => {
    const clock = manualClock();
    const proposals = new Proposals({
      nodeId: 'n1',
      token: new Uint8Array(8),
      clock,
      propose: () => {
        throw new RaftError('PROPOSAL_DROPPED', 'no leader');
      },
    });
    const o = outcome();
    proposals.propose(new Uint8Array([1]), { timeoutMs: 100 }, o.done);
    proposals.expire(clock.at + 100);
    expect(o.result()).toMatchObject({ code: 'NOT_REACHABLE' });
  });

  it('answers an applied proposal and never times it out afterwards', () => {
    const clock = manualClock();
    const proposals = new Proposals({ nodeId: 'n1', token: new Uint8Array(8), clock, propose: () => {} });
    const o = outcome();
    proposals.propose(new Uint8Array([1]), { timeoutMs: 100 }, o.done);
    proposals.applied(1, null, 'done');
    proposals.expire(clock.at + 10_000);
    expect(o.result()).toBe('ok');
  });

  it('rejects at once when the signal aborts, without waiting for a sweep', () => {
    const clock = manualClock();
    const proposals = new Proposals({ nodeId: 'n1', token: new Uint8Array(8), clock, propose: () => {} });
    const abort = new AbortController();
    const o = outcome();
    proposals.propose(new Uint8Array([1]), { timeoutMs: 60_000, signal: abort.signal }, o.done);
    abort.abort(new Error('caller gave up'));
    expect(o.result()).toMatchObject({ message: 'caller gave up' });
  });

  it('times a read barrier out at its deadline, whichever stage it waits in', () => {
    const clock = manualClock();
    const reads = new ReadBarriers(() => true, 'n1:test', clock);
    const unsent = outcome();
    reads.wait(
      { timeoutMs: 300, timeoutError: (sent) => new Error(sent ? 'late' : 'no leader') },
      unsent.done,
    );
    reads.expire(clock.at + 299);
    expect(unsent.result()).toBe('pending');
    reads.expire(clock.at + 300);
    expect(unsent.result()).toMatchObject({ message: 'late' });
    // One confirmed at an index not applied yet: still answered by the sweep.
    const waiting = outcome();
    const ids: string[] = [];
    const reads2 = new ReadBarriers((id) => ids.push(id) > 0, 'n1:test2', clock);
    reads2.wait({ timeoutMs: 300, timeoutError: () => new Error('timed out') }, waiting.done);
    reads2.onReadState(ids[0], 5);
    reads2.expire(clock.at + 300);
    expect(waiting.result()).toMatchObject({ message: 'timed out' });
    reads2.onApplied(5);
    expect(waiting.result()).toMatchObject({ message: 'timed out' });
  });
});
