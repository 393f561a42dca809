import { describe, expect, it } from 'vitest';
import { enc, ofType, TestNetwork } from './harness.js';

const config = { preVote: true, checkQuorum: true, electionTick: 10, heartbeatTick: 1 };

describe('leadership transfer (thesis §3.10)', () => {
  it('the leader sends TimeoutNow to an up-to-date target, which wins the next term at once', () => {
    const net = new TestNetwork(['a', 'b', 'c'], config);
    net.elect('a');
    net.tick(1);
    const term = net.core('a').status().term;
    net.clearSent();
    net.core('a').transferLeadership('b');
    net.deliverAll();
    expect(ofType(net.sent, 'timeoutNow')).toEqual([expect.objectContaining({ from: 'a', to: 'b' })]);
    // The target skips PreVote and its vote requests bypass the leader lease.
    expect(ofType(net.sent, 'vote').every((m) => m.transfer)).toBe(true);
    expect(ofType(net.sent, 'preVote')).toHaveLength(0);
    expect(net.core('b').status()).toMatchObject({ role: 'leader', term: term + 1 });
    expect(net.core('a').status()).toMatchObject({ role: 'follower', lead: 'b' });
  });

  it('a lagging target is caught up before TimeoutNow is sent', () => {
    const net = new TestNetwork(['a', 'b', 'c'], config);
    net.elect('a');
    net.isolate('c');
    for (let i = 0; i < 5; i++) net.propose('a', `x${i}`);
    net.heal();
    net.clearSent();
    const leaderLast = net.core('a').status().lastIndex;
    net.core('a').transferLeadership('c');
    net.flush();
    expect(ofType(net.queue, 'timeoutNow')).toHaveLength(0);
    net.deliverAll();
    const timeoutNow = net.sent.findIndex((m) => m.type === 'timeoutNow');
    const caughtUp = net.sent.findIndex(
      (m) => m.type === 'appResp' && m.from === 'c' && m.index === leaderLast,
    );
    expect(caughtUp).toBeGreaterThanOrEqual(0);
    expect(timeoutNow).toBeGreaterThan(caughtUp);
    expect(net.core('c').status().role).toBe('leader');
    expect(net.appliedData('c')).toEqual(['x0', 'x1', 'x2', 'x3', 'x4']);
  });

  it('proposals are refused while a transfer is in progress', () => {
    const net = new TestNetwork(['a', 'b', 'c'], config);
    net.elect('a');
    net.isolate('b');
    net.core('a').transferLeadership('b');
    expect(() => net.core('a').propose(enc('x'))).toThrow(
      expect.objectContaining({ code: 'PROPOSAL_DROPPED' }),
    );
  });

  it('a transfer that does not finish within an election timeout is abandoned', () => {
    const net = new TestNetwork(['a', 'b', 'c'], config);
    net.elect('a');
    net.isolate('b');
    net.core('a').transferLeadership('b');
    expect(net.core('a').status().leadTransferee).toBe('b');
    net.tick(11, ['a', 'c']);
    expect(net.core('a').status()).toMatchObject({ role: 'leader', leadTransferee: null });
    expect(net.core('a').propose(enc('x'))).not.toBeNull();
  });

  it('a transfer to a learner or a non-member is ignored', () => {
    const net = new TestNetwork(['a', 'b'], config, ['l']);
    net.elect('a');
    net.core('a').transferLeadership('l');
    net.core('a').transferLeadership('zz');
    expect(net.core('a').status().leadTransferee).toBeNull();
  });

  it('a follower forwards a transfer request to the leader', () => {
    const net = new TestNetwork(['a', 'b', 'c'], config);
    net.elect('a');
    net.tick(1);
    net.core('c').transferLeadership('c');
    net.deliverAll();
    expect(net.core('c').status().role).toBe('leader');
  });
});
