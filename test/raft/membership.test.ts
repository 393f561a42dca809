import { describe, expect, it } from 'vitest';
import { encodeConfChange, RaftError } from '../../src/raft/core/index.js';
import { ofType, TestNetwork } from './harness.js';

const config = { preVote: false, checkQuorum: false, electionTick: 10, heartbeatTick: 1 };

function addLearner(net: TestNetwork, leader: string, id: string): void {
  net.add(id);
  net.core(leader).proposeConfChange({ type: 'addLearner', nodeId: id, context: null });
  net.tick(3);
}

describe('membership changes, one server at a time (thesis §4.1)', () => {
  it('a joining server starts empty, receives the founding configuration in the bootstrap snapshot, and follows', () => {
    const net = new TestNetwork(['a', 'b', 'c'], config);
    net.elect('a');
    net.propose('a', 'before');
    addLearner(net, 'a', 'd');
    const d = net.core('d');
    expect(d.status().confState).toEqual({ voters: ['a', 'b', 'c'], learners: ['d'] });
    expect(net.get('d').readies.some((rd) => rd.snapshot?.metadata.index === 1)).toBe(true);
    expect(net.appliedData('d')).toEqual(['before']);
  });

  it('a learner receives the log but does not count toward commit and never campaigns', () => {
    const net = new TestNetwork(['a', 'b', 'c'], config);
    net.elect('a');
    addLearner(net, 'a', 'd');
    net.isolate('b');
    net.isolate('c');
    net.propose('a', 'x');
    expect(net.core('d').status().lastIndex).toBe(net.core('a').status().lastIndex);
    expect(net.core('a').status().commit).toBeLessThan(net.core('a').status().lastIndex);
    net.heal();
    net.isolate('a');
    net.tick(50, ['d']);
    expect(net.core('d').status().role).toBe('follower');
  });

  it('the leader refuses to promote a learner that has not caught up, and promotes it once it has', () => {
    const net = new TestNetwork(['a', 'b', 'c'], config);
    net.elect('a');
    addLearner(net, 'a', 'd');
    net.isolate('d');
    net.propose('a', 'x');
    const promote = () => net.core('a').proposeConfChange({ type: 'addVoter', nodeId: 'd', context: null });
    expect(promote).toThrow(expect.objectContaining({ code: 'CONF_CHANGE_REJECTED' }));
    net.heal();
    net.tick(2);
    expect(net.core('a').status().progress?.d.match).toBeGreaterThanOrEqual(net.core('a').status().commit);
    expect(promote()).not.toBeNull();
    net.tick(2);
    expect(net.core('a').status().confState).toEqual({ voters: ['a', 'b', 'c', 'd'], learners: [] });
    // d now counts: with b and c cut off, a and d are not a majority of four.
    net.isolate('b');
    net.isolate('c');
    net.propose('a', 'needs three of four');
    expect(net.appliedData('a')).not.toContain('needs three of four');
  });

  it('only one configuration change may be uncommitted at a time', () => {
    const net = new TestNetwork(['a', 'b', 'c'], config);
    net.elect('a');
    net.isolate('b');
    net.isolate('c');
    net.add('d');
    net.add('e');
    net.core('a').proposeConfChange({ type: 'addLearner', nodeId: 'd', context: null });
    expect(() => net.core('a').proposeConfChange({ type: 'addLearner', nodeId: 'e', context: null })).toThrow(
      expect.objectContaining({ code: 'CONF_CHANGE_REJECTED' }),
    );
    net.heal();
    net.tick(2);
    expect(
      net.core('a').proposeConfChange({ type: 'addLearner', nodeId: 'e', context: null }),
    ).not.toBeNull();
  });

  it('a new leader may not change the configuration before it commits an entry of its term', () => {
    const net = new TestNetwork(['a', 'b', 'c'], config);
    net.core('a').campaign();
    net.deliver((m) => m.type === 'vote');
    net.deliver((m) => m.type === 'voteResp');
    expect(net.core('a').status().role).toBe('leader');
    net.drop(() => true); // the no-op has not reached anyone
    net.add('d');
    expect(() => net.core('a').proposeConfChange({ type: 'addLearner', nodeId: 'd', context: null })).toThrow(
      /has not committed an entry in its term/,
    );
    net.tick(2);
    expect(
      net.core('a').proposeConfChange({ type: 'addLearner', nodeId: 'd', context: null }),
    ).not.toBeNull();
  });

  it('a configuration takes effect when appended, and reverts if the entry is truncated away', () => {
    const net = new TestNetwork(['a', 'b', 'c'], config);
    const c = net.core('c');
    c.step({
      type: 'app',
      from: 'a',
      to: 'c',
      term: 2,
      prevIndex: 1,
      prevTerm: 1,
      entries: [
        {
          term: 2,
          index: 2,
          type: 'confChange',
          data: encodeConfChange({ type: 'addLearner', nodeId: 'd', context: null }),
        },
      ],
      commit: 1,
    });
    expect(c.status().confState).toEqual({ voters: ['a', 'b', 'c'], learners: ['d'] });
    expect(c.status().commit).toBe(1);
    c.step({
      type: 'app',
      from: 'b',
      to: 'c',
      term: 3,
      prevIndex: 1,
      prevTerm: 1,
      entries: [{ term: 3, index: 2, type: 'normal', data: new Uint8Array() }],
      commit: 1,
    });
    expect(c.status().confState).toEqual({ voters: ['a', 'b', 'c'], learners: [] });
    const rd = c.ready();
    expect(rd.confState).toBeNull(); // back where the last Ready left it
    c.advance(rd);
  });

  it('a removed follower no longer counts toward commit', () => {
    const net = new TestNetwork(['a', 'b', 'c', 'd'], config);
    net.elect('a');
    net.core('a').proposeConfChange({ type: 'removeNode', nodeId: 'd', context: null });
    net.tick(2);
    expect(net.core('a').status().confState.voters).toEqual(['a', 'b', 'c']);
    net.isolate('c');
    net.isolate('d');
    net.propose('a', 'two of three');
    expect(net.appliedData('a')).toContain('two of three');
  });

  it('a leader that removes itself leads until the removal commits, then steps down and hands over', () => {
    const net = new TestNetwork(['a', 'b', 'c'], config);
    net.elect('a');
    net.tick(1);
    net.clearSent();
    net.core('a').proposeConfChange({ type: 'removeNode', nodeId: 'a', context: null });
    net.flush();
    // Still leader while the removal is uncommitted; it no longer counts itself.
    expect(net.core('a').status()).toMatchObject({ role: 'leader', confState: { voters: ['b', 'c'] } });
    net.deliverAll();
    expect(net.core('a').status().role).toBe('follower');
    expect(ofType(net.sent, 'timeoutNow')).toHaveLength(1);
    const successor = ofType(net.sent, 'timeoutNow')[0].to;
    expect(net.core(successor).status().role).toBe('leader');
    net.propose(successor, 'after');
    net.tick(2);
    expect(net.appliedData(successor === 'b' ? 'c' : 'b')).toContain('after');
    // The removed server never campaigns.
    net.tick(50, ['a']);
    expect(net.core('a').status().role).toBe('follower');
  });

  it('confStateAt reports the configuration in force at each index', () => {
    const net = new TestNetwork(['a', 'b', 'c'], config);
    net.elect('a');
    net.add('d');
    const r = net.core('a').proposeConfChange({ type: 'addLearner', nodeId: 'd', context: null });
    net.tick(2);
    const index = r?.index as number;
    expect(net.core('b').confStateAt(index - 1)).toEqual({ voters: ['a', 'b', 'c'], learners: [] });
    expect(net.core('b').confStateAt(index)).toEqual({ voters: ['a', 'b', 'c'], learners: ['d'] });
  });

  it('no-op and last-voter changes are rejected', () => {
    const net = new TestNetwork(['a'], config);
    net.tick(20);
    const a = net.core('a');
    expect(() => a.proposeConfChange({ type: 'removeNode', nodeId: 'zz', context: null })).toThrow(RaftError);
    expect(() => a.proposeConfChange({ type: 'addVoter', nodeId: 'a', context: null })).toThrow(
      /already a voter/,
    );
    expect(() => a.proposeConfChange({ type: 'removeNode', nodeId: 'a', context: null })).toThrow(
      /last voter/,
    );
  });

  it('conf change entries carry their data in a stable, decodable form', () => {
    const net = new TestNetwork(['a', 'b', 'c'], config);
    net.elect('a');
    net.add('d');
    net.core('a').proposeConfChange({ type: 'addLearner', nodeId: 'd', context: '10.0.0.4:7000' });
    net.tick(2);
    const applied = net.get('b').applied.filter((e) => e.type === 'confChange');
    expect(applied).toHaveLength(1);
    expect(JSON.parse(new TextDecoder().decode(applied[0].data))).toEqual({
      type: 'addLearner',
      nodeId: 'd',
      context: '10.0.0.4:7000',
    });
  });
});
