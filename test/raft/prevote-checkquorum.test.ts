import { describe, expect, it } from 'vitest';
import { ofType, TestNetwork } from './harness.js';

const both = { preVote: true, checkQuorum: true, electionTick: 10, heartbeatTick: 1 };

describe('PreVote (thesis §9.6)', () => {
  it('a partitioned server keeps its term: its pre-votes fail and it never becomes candidate', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { ...both, checkQuorum: false });
    net.elect('a');
    const term = net.core('c').status().term;
    net.isolate('c');
    net.tick(200, ['c']);
    expect(net.core('c').status().term).toBe(term);
    expect(net.core('c').status().role).toBe('preCandidate');
  });

  it('a pre-candidate that wins the pre-vote runs a real election in the next term', () => {
    const net = new TestNetwork(['a', 'b', 'c'], both);
    net.core('a').campaign();
    net.flush();
    const preVotes = ofType(net.queue, 'preVote');
    expect(preVotes).toHaveLength(2);
    // The probe is for term + 1, but the candidate's own term does not move yet.
    expect(preVotes[0].term).toBe(2);
    expect(net.core('a').status()).toMatchObject({ role: 'preCandidate', term: 1 });
    net.deliverAll();
    expect(net.core('a').status()).toMatchObject({ role: 'leader', term: 2 });
  });

  it('granting a pre-vote changes neither the voter term nor its vote', () => {
    const net = new TestNetwork(['a', 'b', 'c'], both);
    const b = net.core('b');
    b.step({
      type: 'preVote',
      from: 'a',
      to: 'b',
      term: 2,
      lastLogIndex: 1,
      lastLogTerm: 1,
      transfer: false,
    });
    net.flush();
    expect(ofType(net.queue, 'preVoteResp')).toEqual([expect.objectContaining({ reject: false, term: 2 })]);
    expect(b.status()).toMatchObject({ term: 1, vote: null });
  });
});

describe('a partitioned server rejoining does not depose a healthy leader', () => {
  function partitionAndRejoin(config: { preVote: boolean; checkQuorum: boolean }): {
    before: number;
    after: number;
    leader: string | null;
  } {
    const net = new TestNetwork(['a', 'b', 'c', 'd', 'e'], { electionTick: 10, heartbeatTick: 1, ...config });
    net.elect('a');
    const before = net.core('a').status().term;
    net.isolate('e');
    // e times out many times while the others keep hearing from a.
    net.tick(100);
    net.heal();
    net.tick(30);
    const status = net.core('b').status();
    return { before, after: status.term, leader: status.lead };
  }

  it('with PreVote and CheckQuorum the leader and term survive', () => {
    const r = partitionAndRejoin({ preVote: true, checkQuorum: true });
    expect(r.after).toBe(r.before);
    expect(r.leader).toBe('a');
  });

  it('with PreVote alone the leader and term survive', () => {
    const r = partitionAndRejoin({ preVote: true, checkQuorum: false });
    expect(r.after).toBe(r.before);
    expect(r.leader).toBe('a');
  });

  it('without either, the rejoining server forces a new term (the disruption both features prevent)', () => {
    const r = partitionAndRejoin({ preVote: false, checkQuorum: false });
    expect(r.after).toBeGreaterThan(r.before);
  });
});

describe('CheckQuorum', () => {
  it('a leader that does not hear from a majority for an election timeout steps down', () => {
    const net = new TestNetwork(['a', 'b', 'c'], both);
    net.elect('a');
    net.isolate('a');
    net.tick(25, ['a']);
    expect(net.core('a').status()).toMatchObject({ role: 'follower', lead: null });
  });

  it('a leader that hears from a majority stays leader', () => {
    const net = new TestNetwork(['a', 'b', 'c'], both);
    net.elect('a');
    net.isolate('c');
    net.tick(50, ['a', 'b']);
    expect(net.core('a').status().role).toBe('leader');
  });

  it('a voter that hears from a leader ignores vote requests of a higher term (leader lease)', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { ...both, preVote: false });
    net.elect('a');
    net.tick(1);
    const b = net.core('b');
    const { term, lastIndex } = b.status();
    b.step({
      type: 'vote',
      from: 'c',
      to: 'b',
      term: term + 1,
      lastLogIndex: lastIndex,
      lastLogTerm: term,
      transfer: false,
    });
    net.flush();
    expect(ofType(net.queue, 'voteResp')).toHaveLength(0);
    expect(b.status()).toMatchObject({ term, lead: 'a' });
  });

  it('a leadership-transfer vote request bypasses the lease', () => {
    const net = new TestNetwork(['a', 'b', 'c'], both);
    net.elect('a');
    net.tick(1);
    const b = net.core('b');
    const { term, lastIndex } = b.status();
    b.step({
      type: 'vote',
      from: 'c',
      to: 'b',
      term: term + 1,
      lastLogIndex: lastIndex,
      lastLogTerm: term,
      transfer: true,
    });
    net.flush();
    expect(ofType(net.queue, 'voteResp')).toEqual([
      expect.objectContaining({ reject: false, term: term + 1 }),
    ]);
  });
});
