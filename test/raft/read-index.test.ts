import { describe, expect, it } from 'vitest';
import { ofType, TestNetwork } from './harness.js';

const config = { preVote: true, checkQuorum: true, electionTick: 10, heartbeatTick: 1 };

describe('ReadIndex reads (thesis §6.4)', () => {
  it('the leader releases a read only after a majority answers a heartbeat sent after the request', () => {
    const net = new TestNetwork(['a', 'b', 'c'], config);
    net.elect('a');
    net.tick(1);
    net.clearSent();
    net.core('a').readIndex('r1');
    net.flush();
    const beats = ofType(net.queue, 'heartbeat');
    expect(beats).toHaveLength(2);
    const context = beats[0].readContext;
    expect(context).toBeGreaterThan(0);
    expect(net.get('a').readStates).toEqual([]);
    // One follower's answer makes a majority with the leader.
    net.deliver((m) => m.type === 'heartbeat' && m.to === 'b');
    net.deliver((m) => m.type === 'heartbeatResp');
    expect(net.get('a').readStates).toEqual([{ requestId: 'r1', index: net.core('a').status().commit }]);
  });

  it('a leader that has not committed an entry of its term holds reads until it has', () => {
    const net = new TestNetwork(['a', 'b', 'c'], config);
    net.core('a').campaign();
    net.deliver((m) => m.type === 'preVote');
    net.deliver((m) => m.type === 'preVoteResp');
    net.deliver((m) => m.type === 'vote');
    net.deliver((m) => m.type === 'voteResp');
    expect(net.core('a').status().role).toBe('leader');
    net.core('a').readIndex('early');
    net.flush();
    expect(ofType(net.queue, 'heartbeat').filter((m) => m.readContext > 0)).toHaveLength(0);
    net.deliverAll();
    const rs = net.get('a').readStates;
    expect(rs).toHaveLength(1);
    expect(rs[0].index).toBeGreaterThanOrEqual(2); // includes the no-op of the new term
  });

  it('a follower forwards the read to the leader and receives the read index', () => {
    const net = new TestNetwork(['a', 'b', 'c'], config);
    net.elect('a');
    net.propose('a', 'x');
    net.tick(1);
    net.core('b').readIndex('from-b');
    net.deliverAll();
    expect(net.get('b').readStates).toEqual([{ requestId: 'from-b', index: net.core('a').status().commit }]);
  });

  it('a leader cut off from the majority never confirms a read', () => {
    const net = new TestNetwork(['a', 'b', 'c'], config);
    net.elect('a');
    net.tick(1);
    net.isolate('a');
    net.core('a').readIndex('stale?');
    net.tick(30);
    expect(net.get('a').readStates).toEqual([]);
    // Meanwhile the majority elected a new leader and may have moved on.
    expect(['b', 'c'].some((id) => net.core(id).status().role === 'leader')).toBe(true);
  });

  it('a read without a known leader is refused', () => {
    const net = new TestNetwork(['a', 'b', 'c'], config);
    expect(() => net.core('a').readIndex('x')).toThrow(expect.objectContaining({ code: 'PROPOSAL_DROPPED' }));
  });

  it('a single-voter leader serves reads at once', () => {
    const net = new TestNetwork(['a'], config);
    net.tick(20);
    net.core('a').readIndex('solo');
    net.flush();
    expect(net.get('a').readStates).toEqual([{ requestId: 'solo', index: net.core('a').status().commit }]);
  });

  it('acknowledgements of a later heartbeat round confirm earlier reads too', () => {
    const net = new TestNetwork(['a', 'b', 'c'], config);
    net.elect('a');
    net.tick(1);
    net.core('a').readIndex('r1');
    net.core('a').readIndex('r2');
    net.flush();
    // Lose the first round; deliver only the second.
    const first = Math.min(...ofType(net.queue, 'heartbeat').map((m) => m.readContext));
    net.drop((m) => m.type === 'heartbeat' && m.readContext === first);
    net.deliverAll();
    expect(net.get('a').readStates.map((r) => r.requestId)).toEqual(['r1', 'r2']);
  });
});
