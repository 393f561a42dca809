import { describe, expect, it } from 'vitest';
import {
  applyConfChange,
  bootstrapSnapshot,
  decodeConfChange,
  encodeConfChange,
  MemoryRaftStorage,
  RAFT_DEFAULTS,
  RaftCore,
  RaftError,
} from '../../src/raft/core/index.js';
import { enc, TestNetwork } from './harness.js';

const voters = { voters: ['a', 'b', 'c'], learners: [] };

describe('the Ready contract', () => {
  it('hands out a second Ready before the first is advanced, holding only what is new, and takes advances in order', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { preVote: false, checkQuorum: false });
    net.elect('a');
    const a = net.get('a');
    a.core.propose(enc('one'));
    const first = a.core.ready();
    expect(a.core.hasReady()).toBe(false);
    a.core.propose(enc('two'));
    expect(a.core.hasReady()).toBe(true);
    const second = a.core.ready();
    expect(first.entries.map((e) => e.index)).toEqual([3]);
    expect(second.entries.map((e) => e.index)).toEqual([4]);
    expect(() => a.core.advance(second)).toThrow(/out of order/);
    expect(() => a.core.advance({ ...first })).toThrow(/not outstanding/);
    a.storage.persist(first);
    a.storage.persist(second);
    a.core.advance(first);
    a.core.advance(second);
    net.queue.push(...first.messages, ...second.messages);
    net.deliverAll();
    net.tick(1);
    expect(net.appliedData('b')).toEqual(['one', 'two']);
  });

  it('keeps working while a Ready is being written, and reports what happened meanwhile in the next one', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { preVote: false, checkQuorum: false });
    net.elect('a');
    const a = net.get('a');
    a.core.propose(enc('one'));
    const first = a.core.ready();
    // While "writing" the first Ready, another proposal arrives.
    a.core.propose(enc('two'));
    a.storage.persist(first);
    a.core.advance(first);
    const second = a.core.ready();
    expect(first.entries.map((e) => e.index)).toEqual([3]);
    expect(second.entries.map((e) => e.index)).toEqual([4]);
    a.storage.persist(second);
    a.core.advance(second);
    net.queue.push(...first.messages, ...second.messages);
    net.deliverAll();
    net.tick(1);
    expect(net.appliedData('b')).toEqual(['one', 'two']);
  });

  it('marks the write as needing fsync when term, vote or entries change, not for a commit index alone', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { preVote: false, checkQuorum: false });
    net.elect('a');
    net.propose('a', 'x');
    net.tick(1);
    const b = net.get('b');
    let prev = { term: 1, vote: null as string | null };
    let commitOnly = 0;
    for (const rd of b.readies) {
      const hs = rd.hardState;
      const termOrVote = hs !== null && (hs.term !== prev.term || hs.vote !== prev.vote);
      expect(rd.mustSync).toBe(termOrVote || rd.entries.length > 0 || rd.snapshot !== null);
      if (hs && !termOrVote && rd.entries.length === 0) commitOnly++;
      if (hs) prev = { term: hs.term, vote: hs.vote };
    }
    expect(commitOnly).toBeGreaterThan(0);
  });

  it('limits committed entries per Ready to maxCommittedSizePerReady (at least one)', () => {
    const net = new TestNetwork(['a'], { preVote: false, maxCommittedSizePerReady: 100 });
    net.tick(20);
    for (let i = 0; i < 5; i++) net.core('a').propose(new Uint8Array(60));
    net.flush();
    const sizes = net
      .get('a')
      .readies.map((rd) => rd.committedEntries.length)
      .filter((n) => n > 0);
    expect(Math.max(...sizes)).toBe(1);
    expect(net.get('a').applied.filter((e) => e.data.byteLength === 60)).toHaveLength(5);
  });

  it('rejects a message addressed to another server', () => {
    const core = new RaftCore({ id: 'a', storage: new MemoryRaftStorage(voters) });
    expect(() => core.step({ type: 'timeoutNow', from: 'b', to: 'c', term: 1 })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});

describe('configuration', () => {
  it('documents its defaults', () => {
    expect(RAFT_DEFAULTS).toMatchObject({
      electionTick: 10,
      heartbeatTick: 1,
      preVote: true,
      checkQuorum: true,
    });
  });

  it('refuses invalid values', () => {
    const storage = new MemoryRaftStorage(voters);
    expect(() => new RaftCore({ id: 'a', storage, electionTick: 1, heartbeatTick: 1 })).toThrow(
      /electionTick/,
    );
    expect(() => new RaftCore({ id: '', storage })).toThrow(/id/);
    expect(() => new RaftCore({ id: 'a', storage, maxInflightMsgs: 0 })).toThrow(/maxInflightMsgs/);
    expect(() => new RaftCore({ id: 'a', storage, electionJitterTick: -1 })).toThrow(/electionJitterTick/);
  });
});

describe('MemoryRaftStorage', () => {
  it('starts a founding member from the bootstrap snapshot and a joiner empty', () => {
    const founder = new MemoryRaftStorage(voters);
    expect(founder.snapshot()).toEqual(bootstrapSnapshot(voters));
    expect(founder.initialState().hardState).toEqual({ term: 1, vote: null, commit: 1 });
    expect([founder.firstIndex(), founder.lastIndex()]).toEqual([2, 1]);
    const joiner = new MemoryRaftStorage();
    expect([joiner.firstIndex(), joiner.lastIndex(), joiner.term(0)]).toEqual([1, 0, 0]);
  });

  it('appends, truncates conflicting suffixes, compacts, and reports out-of-range reads', () => {
    const s = new MemoryRaftStorage(voters);
    const e = (index: number, term: number) => ({
      index,
      term,
      type: 'normal' as const,
      data: enc(`${index}`),
    });
    s.append([e(2, 1), e(3, 1), e(4, 1)]);
    s.append([e(3, 2)]);
    expect(s.entries(2, 4).map((x) => x.term)).toEqual([1, 2]);
    expect(s.lastIndex()).toBe(3);
    expect(() => s.append([e(9, 2)])).toThrow(/gap/);
    s.createSnapshot(3, voters, enc('image'), 1);
    expect(s.snapshot().metadata).toMatchObject({ index: 3, term: 2 });
    expect(s.firstIndex()).toBe(3); // one entry retained behind the snapshot
    expect(s.term(2)).toBe(1);
    expect(() => s.entries(2, 3)).toThrow(expect.objectContaining({ code: 'COMPACTED' }));
    expect(() => s.term(9)).toThrow(expect.objectContaining({ code: 'UNAVAILABLE' }));
    s.compact(3);
    expect([s.firstIndex(), s.term(3)]).toEqual([4, 2]);
  });

  it('limits entries() by bytes but always returns at least one entry', () => {
    const s = new MemoryRaftStorage(voters);
    s.append(
      [2, 3, 4].map((index) => ({ index, term: 1, type: 'normal' as const, data: new Uint8Array(100) })),
    );
    expect(s.entries(2, 5, 10)).toHaveLength(1);
    expect(s.entries(2, 5, 260)).toHaveLength(2);
  });
});

describe('conf change encoding', () => {
  it('round-trips and rejects what is not a conf change', () => {
    const change = { type: 'addLearner' as const, nodeId: 'd', context: 'host:1' };
    expect(decodeConfChange(encodeConfChange(change))).toEqual(change);
    expect(() => decodeConfChange(enc('{"type":"explode","nodeId":"d"}'))).toThrow(RaftError);
  });

  it('applies one change to a configuration without modifying it', () => {
    const conf = { voters: ['a', 'b'], learners: ['c'] };
    expect(applyConfChange(conf, { type: 'addVoter', nodeId: 'c', context: null })).toEqual({
      voters: ['a', 'b', 'c'],
      learners: [],
    });
    expect(conf).toEqual({ voters: ['a', 'b'], learners: ['c'] });
    expect(() => applyConfChange(conf, { type: 'addLearner', nodeId: 'a', context: null })).toThrow(
      /is a voter/,
    );
  });
});
