import { describe, expect, it } from 'vitest';
import { createRng, MemoryRaftStorage, RaftCore } from '../../src/raft/core/index.js';
import { ofType, TestNetwork } from './harness.js';

const plain = { preVote: false, checkQuorum: false, electionTick: 10, heartbeatTick: 1 };

describe('leader election (Raft §5.2)', () => {
  it('a follower that hears no leader for its election timeout becomes a candidate of the next term', () => {
    const net = new TestNetwork(['a', 'b', 'c'], plain);
    net.isolate('a');
    net.tick(20, ['a']);
    const s = net.core('a').status();
    expect(s.role).toBe('candidate');
    expect(s.term).toBeGreaterThanOrEqual(2);
    expect(s.vote).toBe('a');
  });

  it('a candidate asks every other voter for its vote with its last log index and term', () => {
    const net = new TestNetwork(['a', 'b', 'c'], plain);
    net.core('a').campaign();
    net.flush();
    const votes = ofType(net.queue, 'vote');
    expect(votes.map((m) => m.to).sort()).toEqual(['b', 'c']);
    for (const v of votes) {
      expect(v).toMatchObject({ from: 'a', term: 2, lastLogIndex: 1, lastLogTerm: 1, transfer: false });
    }
  });

  it('a candidate that wins a majority becomes leader and appends an empty entry of its term', () => {
    const net = new TestNetwork(['a', 'b', 'c'], plain);
    net.elect('a');
    const s = net.core('a').status();
    expect(s.role).toBe('leader');
    expect(s.lead).toBe('a');
    const last = net.core('a').logEntries(s.lastIndex, s.lastIndex + 1)[0];
    expect(last).toMatchObject({ term: 2, type: 'normal' });
    expect(last.data.byteLength).toBe(0);
    // Followers learn the leader and commit the empty entry.
    net.tick(1);
    for (const id of ['b', 'c'])
      expect(net.core(id).status()).toMatchObject({ lead: 'a', commit: s.lastIndex });
  });

  it('a candidate rejected by a majority returns to follower', () => {
    const net = new TestNetwork(['a', 'b', 'c'], plain);
    net.elect('b');
    net.isolate('a');
    net.core('b').propose(new TextEncoder().encode('x'));
    net.deliverAll();
    net.heal();
    // a's log is now behind: b and c reject it.
    net.core('a').campaign();
    net.deliver((m) => m.type === 'vote');
    net.deliver((m) => m.type === 'voteResp');
    expect(net.core('a').status().role).toBe('follower');
  });

  it('a server grants at most one vote per term, to the first candidate that asks', () => {
    const net = new TestNetwork(['a', 'b', 'c'], plain);
    const c = net.core('c');
    c.step({ type: 'vote', from: 'a', to: 'c', term: 2, lastLogIndex: 1, lastLogTerm: 1, transfer: false });
    c.step({ type: 'vote', from: 'b', to: 'c', term: 2, lastLogIndex: 1, lastLogTerm: 1, transfer: false });
    // The same candidate asking again (a retransmission) gets the same answer.
    c.step({ type: 'vote', from: 'a', to: 'c', term: 2, lastLogIndex: 1, lastLogTerm: 1, transfer: false });
    net.flush();
    const resps = ofType(net.queue, 'voteResp');
    expect(resps.map((m) => [m.to, m.reject])).toEqual([
      ['a', false],
      ['b', true],
      ['a', false],
    ]);
    expect(c.status().vote).toBe('a');
  });

  it('a voter rejects a candidate whose log is less up to date (§5.4.1)', () => {
    const net = new TestNetwork(['a', 'b', 'c'], plain);
    net.elect('a');
    net.propose('a', 'x');
    const c = net.core('c');
    const { lastIndex, term } = c.status();
    const lastTerm = c.logTerm(lastIndex) as number;
    // Lower last term, even with a longer log: rejected.
    c.step({
      type: 'vote',
      from: 'b',
      to: 'c',
      term: term + 1,
      lastLogIndex: lastIndex + 5,
      lastLogTerm: lastTerm - 1,
      transfer: false,
    });
    // Same last term but shorter: rejected.
    c.step({
      type: 'vote',
      from: 'b',
      to: 'c',
      term: term + 2,
      lastLogIndex: lastIndex - 1,
      lastLogTerm: lastTerm,
      transfer: false,
    });
    // Same last term, same length: granted.
    c.step({
      type: 'vote',
      from: 'b',
      to: 'c',
      term: term + 3,
      lastLogIndex: lastIndex,
      lastLogTerm: lastTerm,
      transfer: false,
    });
    net.flush();
    expect(ofType(net.queue, 'voteResp').map((m) => m.reject)).toEqual([true, true, false]);
  });

  it('a server that sees a higher term adopts it and becomes follower', () => {
    const net = new TestNetwork(['a', 'b', 'c'], plain);
    net.elect('a');
    const a = net.core('a');
    a.step({
      type: 'appResp',
      from: 'b',
      to: 'a',
      term: 9,
      index: 0,
      reject: false,
      rejectHint: 0,
      rejectTerm: 0,
    });
    expect(a.status()).toMatchObject({ role: 'follower', term: 9, vote: null, lead: null });
  });

  it('messages from an older term are ignored', () => {
    const net = new TestNetwork(['a', 'b', 'c'], plain);
    net.elect('a');
    net.elect('b');
    const c = net.core('c');
    const before = c.status();
    c.step({
      type: 'app',
      from: 'a',
      to: 'c',
      term: 2,
      prevIndex: before.lastIndex,
      prevTerm: c.logTerm(before.lastIndex) as number,
      entries: [{ term: 2, index: before.lastIndex + 1, type: 'normal', data: new Uint8Array([1]) }],
      commit: before.lastIndex + 1,
    });
    expect(c.status()).toMatchObject({ lastIndex: before.lastIndex, commit: before.commit, lead: 'b' });
  });

  it('the vote is in the hard state of the same Ready as the vote response (persist before answering)', () => {
    const net = new TestNetwork(['a', 'b', 'c'], plain);
    const c = net.get('c');
    c.core.step({
      type: 'vote',
      from: 'a',
      to: 'c',
      term: 2,
      lastLogIndex: 1,
      lastLogTerm: 1,
      transfer: false,
    });
    const rd = c.core.ready();
    expect(rd.hardState).toMatchObject({ term: 2, vote: 'a' });
    expect(rd.mustSync).toBe(true);
    expect(ofType(rd.messages, 'voteResp')).toHaveLength(1);
    c.core.advance(rd);
  });

  it('a restarted server remembers its term and vote and does not vote twice in a term', () => {
    const net = new TestNetwork(['a', 'b', 'c'], plain);
    const c = net.core('c');
    c.step({ type: 'vote', from: 'a', to: 'c', term: 2, lastLogIndex: 1, lastLogTerm: 1, transfer: false });
    net.flush();
    net.queue = [];
    const restarted = net.restart('c').core;
    expect(restarted.status()).toMatchObject({ term: 2, vote: 'a' });
    restarted.step({
      type: 'vote',
      from: 'b',
      to: 'c',
      term: 2,
      lastLogIndex: 1,
      lastLogTerm: 1,
      transfer: false,
    });
    net.flush();
    expect(ofType(net.queue, 'voteResp')).toEqual([expect.objectContaining({ to: 'b', reject: true })]);
  });

  it('election timeouts are drawn from [electionTick, electionTick + jitter] and depend only on the seed', () => {
    const timeouts = (seed: number): number[] => {
      const out: number[] = [];
      for (let trial = 0; trial < 30; trial++) {
        const core = new RaftCore({
          id: 'a',
          storage: new MemoryRaftStorage({ voters: ['a', 'b', 'c'], learners: [] }),
          rng: createRng(seed * 1000 + trial),
          electionTick: 10,
          electionJitterTick: 5,
          preVote: false,
        });
        let ticks = 0;
        while (core.status().role === 'follower') {
          core.tick();
          ticks++;
        }
        out.push(ticks);
      }
      return out;
    };
    const first = timeouts(1);
    expect(Math.min(...first)).toBeGreaterThanOrEqual(10);
    expect(Math.max(...first)).toBeLessThanOrEqual(15);
    expect(new Set(first).size).toBeGreaterThan(1);
    expect(timeouts(1)).toEqual(first);
  });

  it('a single-voter cluster elects itself and commits alone', () => {
    const net = new TestNetwork(['a'], plain);
    net.tick(20);
    expect(net.core('a').status().role).toBe('leader');
    net.propose('a', 'solo');
    expect(net.appliedData('a')).toEqual(['solo']);
  });

  it('learners never campaign', () => {
    const net = new TestNetwork(['a', 'b'], plain, ['l']);
    net.isolate('l');
    net.tick(100, ['l']);
    expect(net.core('l').status()).toMatchObject({ role: 'follower', term: 1 });
    net.core('l').campaign();
    expect(net.core('l').status().role).toBe('follower');
  });
});
