import { describe, expect, it } from 'vitest';
import { type Entry, RaftError } from '../../src/raft/core/index.js';
import { enc, ofType, TestNetwork } from './harness.js';

const plain = { preVote: false, checkQuorum: false, electionTick: 10, heartbeatTick: 1 };

function entry(index: number, term: number, text = `${index}@${term}`): Entry {
  return { index, term, type: 'normal', data: enc(text) };
}

describe('log replication (Raft §5.3)', () => {
  it('the leader commits an entry once a majority stores it, and every server applies it in order', () => {
    const net = new TestNetwork(['a', 'b', 'c'], plain);
    net.elect('a');
    net.propose('a', 'x');
    net.propose('a', 'y');
    net.tick(1);
    for (const id of ['a', 'b', 'c']) expect(net.appliedData(id)).toEqual(['x', 'y']);
  });

  it('an entry stored by a minority is not committed', () => {
    const net = new TestNetwork(['a', 'b', 'c'], plain);
    net.elect('a');
    net.isolate('b');
    net.isolate('c');
    net.propose('a', 'lonely');
    expect(net.appliedData('a')).toEqual([]);
    net.heal();
    net.tick(2);
    expect(net.appliedData('a')).toEqual(['lonely']);
  });

  it('propose returns the index and term the entry will commit at', () => {
    const net = new TestNetwork(['a', 'b', 'c'], plain);
    net.elect('a');
    const r = net.core('a').propose(enc('x'));
    expect(r).toEqual({ index: 3, term: 2 });
    net.deliverAll();
    expect(net.get('b').applied.at(-1)).toMatchObject({ index: 3, term: 2 });
  });

  it('followers forward proposals to the leader', () => {
    const net = new TestNetwork(['a', 'b', 'c'], plain);
    net.elect('a');
    net.tick(1);
    expect(net.core('b').propose(enc('via b'))).toBeNull();
    net.deliverAll();
    net.tick(1);
    expect(net.appliedData('c')).toEqual(['via b']);
  });

  it('a proposal without a known leader is dropped with PROPOSAL_DROPPED', () => {
    const net = new TestNetwork(['a', 'b', 'c'], plain);
    expect(() => net.core('a').propose(enc('x'))).toThrow(
      expect.objectContaining({ code: 'PROPOSAL_DROPPED' }),
    );
    const forwardless = new TestNetwork(['a', 'b', 'c'], { ...plain, disableProposalForwarding: true });
    forwardless.elect('a');
    forwardless.tick(1);
    expect(() => forwardless.core('b').propose(enc('x'))).toThrow(RaftError);
  });

  it('a follower rejects an append whose previous entry does not match, with a conflict hint', () => {
    const net = new TestNetwork(['a', 'b', 'c'], plain);
    const b = net.core('b');
    b.step({
      type: 'app',
      from: 'a',
      to: 'b',
      term: 2,
      prevIndex: 1,
      prevTerm: 1,
      entries: [entry(2, 2)],
      commit: 1,
    });
    b.step({
      type: 'app',
      from: 'a',
      to: 'b',
      term: 2,
      prevIndex: 5,
      prevTerm: 2,
      entries: [entry(6, 2)],
      commit: 1,
    });
    net.flush();
    const [ok, rejected] = ofType(net.queue, 'appResp');
    expect(ok).toMatchObject({ index: 2, reject: false });
    // Its last entry (2, term 2) is the highest that may match a log with term 2 at index 5.
    expect(rejected).toMatchObject({ index: 5, reject: true, rejectHint: 2, rejectTerm: 2 });
  });

  it('a follower replaces conflicting uncommitted entries with the leader entries', () => {
    const net = new TestNetwork(['a', 'b', 'c'], plain);
    const b = net.core('b');
    b.step({
      type: 'app',
      from: 'a',
      to: 'b',
      term: 2,
      prevIndex: 1,
      prevTerm: 1,
      entries: [entry(2, 2), entry(3, 2)],
      commit: 1,
    });
    b.step({
      type: 'app',
      from: 'c',
      to: 'b',
      term: 3,
      prevIndex: 2,
      prevTerm: 2,
      entries: [entry(3, 3), entry(4, 3)],
      commit: 4,
    });
    net.flush();
    expect(b.logEntries(2, 5).map((e) => `${e.index}/${e.term}`)).toEqual(['2/2', '3/3', '4/3']);
    expect(
      net
        .get('b')
        .storage.entries(2, 5)
        .map((e) => e.term),
    ).toEqual([2, 3, 3]);
    expect(b.status().commit).toBe(4);
  });

  it('a stale append that would overwrite nothing new leaves the log alone', () => {
    const net = new TestNetwork(['a', 'b', 'c'], plain);
    const b = net.core('b');
    b.step({
      type: 'app',
      from: 'a',
      to: 'b',
      term: 2,
      prevIndex: 1,
      prevTerm: 1,
      entries: [entry(2, 2), entry(3, 2)],
      commit: 1,
    });
    // A delayed duplicate of an earlier, shorter append.
    b.step({
      type: 'app',
      from: 'a',
      to: 'b',
      term: 2,
      prevIndex: 1,
      prevTerm: 1,
      entries: [entry(2, 2)],
      commit: 1,
    });
    expect(b.status().lastIndex).toBe(3);
  });

  it('fast back-off skips a whole conflicting term in one round trip', () => {
    // a and b hold entries 2..31 of term 2; c holds entries 2..31 of term 3 that never committed.
    const net = new TestNetwork(['a', 'b', 'c'], plain);
    const ofTerm = (term: number): Entry[] => Array.from({ length: 30 }, (_, i) => entry(i + 2, term));
    for (const id of ['a', 'b']) {
      net.core(id).step({
        type: 'app',
        from: 'x',
        to: id,
        term: 2,
        prevIndex: 1,
        prevTerm: 1,
        entries: ofTerm(2),
        commit: 1,
      });
    }
    net.core('c').step({
      type: 'app',
      from: 'y',
      to: 'c',
      term: 3,
      prevIndex: 1,
      prevTerm: 1,
      entries: ofTerm(3),
      commit: 1,
    });
    net.flush();
    net.queue = [];
    // a wins term 4 with b's vote (c's log is more up to date by term, so c refuses).
    net.core('a').step({ type: 'heartbeat', from: 'z', to: 'a', term: 3, commit: 1, readContext: 0 });
    net.flush();
    net.queue = [];
    net.clearSent();
    net.elect('a');
    net.tick(3);
    const rejections = ofType(net.sent, 'appResp').filter((m) => m.from === 'c' && m.reject);
    // One probe at index 31 is rejected with hint (1, term 1); the next probe matches.
    expect(rejections).toHaveLength(1);
    expect(rejections[0]).toMatchObject({ index: 31, rejectHint: 1, rejectTerm: 1 });
    const a = net.core('a');
    const c = net.core('c');
    expect(c.status().lastIndex).toBe(a.status().lastIndex);
    expect(c.logEntries(2, 33).map((e) => e.term)).toEqual(a.logEntries(2, 33).map((e) => e.term));
  });

  it('maxSizePerMsg bounds the entries of one append (at least one entry is always sent)', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { ...plain, maxSizePerMsg: 100 });
    net.elect('a');
    net.isolate('b');
    for (let i = 0; i < 10; i++) net.core('a').propose(new Uint8Array(40));
    net.core('a').propose(new Uint8Array(500));
    net.deliverAll();
    net.heal();
    net.clearSent();
    net.tick(5);
    const appends = ofType(net.sent, 'app').filter((m) => m.to === 'b' && m.entries.length > 0);
    for (const m of appends) {
      const bytes = m.entries.reduce((sum, e) => sum + e.data.byteLength + 24, 0);
      expect(m.entries.length === 1 || bytes <= 100).toBe(true);
    }
    expect(appends.some((m) => m.entries.length === 1 && m.entries[0].data.byteLength === 500)).toBe(true);
    expect(net.core('b').status().lastIndex).toBe(net.core('a').status().lastIndex);
  });

  it('in replicate state at most maxInflightMsgs appends are unacknowledged at once', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { ...plain, maxInflightMsgs: 3, maxSizePerMsg: 1 });
    net.elect('a');
    net.tick(1);
    expect(net.core('a').status().progress?.b.state).toBe('replicate');
    net.drop(() => true);
    for (let i = 0; i < 10; i++) net.core('a').propose(enc(`p${i}`));
    net.flush();
    const toB = ofType(net.queue, 'app').filter((m) => m.to === 'b' && m.entries.length > 0);
    expect(toB).toHaveLength(3);
    expect(net.core('a').status().progress?.b.inflight).toBe(3);
    // Acknowledgements open the window again; everything gets through.
    net.deliverAll();
    net.tick(2);
    expect(net.appliedData('b')).toHaveLength(10);
  });

  it('in probe state the leader sends one append and waits for its answer', () => {
    const net = new TestNetwork(['a', 'b', 'c'], plain);
    net.elect('a');
    net.isolate('b');
    net.tick(1);
    net.heal();
    net.core('a').reportUnreachable('b');
    expect(net.core('a').status().progress?.b.state).toBe('probe');
    net.drop((m) => m.to === 'b');
    for (let i = 0; i < 5; i++) net.core('a').propose(enc(`p${i}`));
    net.flush();
    expect(ofType(net.queue, 'app').filter((m) => m.to === 'b')).toHaveLength(1);
  });

  it('a lost append is detected and resent after the next heartbeat', () => {
    const net = new TestNetwork(['a', 'b', 'c'], plain);
    net.elect('a');
    net.tick(1);
    net.core('a').propose(enc('lost for b'));
    net.drop((m) => m.type === 'app' && m.to === 'b');
    net.deliverAll();
    net.tick(3);
    expect(net.appliedData('b')).toEqual(['lost for b']);
  });

  it('heartbeats never tell a follower to commit beyond what it is known to hold', () => {
    const net = new TestNetwork(['a', 'b', 'c'], plain);
    net.elect('a');
    net.isolate('c');
    net.propose('a', 'x');
    net.clearSent();
    net.tick(1, ['a']);
    const hb = ofType(net.sent, 'heartbeat').find((m) => m.to === 'c');
    expect(hb?.commit).toBeLessThan(net.core('a').status().commit);
  });
});

describe('the commit rule (Raft §5.4.2, Figure 8)', () => {
  it('a leader does not commit an entry of an earlier term by counting replicas', () => {
    const net = new TestNetwork(['a', 'b', 'c'], plain);
    net.elect('a'); // term 2
    const a = net.core('a');
    // a appends an entry of term 2 that reaches nobody.
    net.isolate('b');
    net.isolate('c');
    a.propose(enc('term-2 entry'));
    net.flush();
    net.drop(() => true);
    net.heal();
    const oldIndex = a.status().lastIndex;
    // a is deposed, then elected again in term 4; its no-op of term 4 reaches nobody.
    a.step({
      type: 'appResp',
      from: 'c',
      to: 'a',
      term: 3,
      index: 0,
      reject: false,
      rejectHint: 0,
      rejectTerm: 0,
    });
    a.campaign();
    net.deliver((m) => m.type === 'vote');
    net.deliver((m) => m.type === 'voteResp');
    expect(a.status()).toMatchObject({ role: 'leader', term: 4 });
    net.drop(() => true);
    // b now stores the term-2 entry (a majority with a), but not the term-4 no-op.
    a.step({
      type: 'appResp',
      from: 'b',
      to: 'a',
      term: 4,
      index: oldIndex,
      reject: false,
      rejectHint: 0,
      rejectTerm: 0,
    });
    expect(a.status().commit).toBeLessThan(oldIndex);
    // Once b also stores the no-op of term 4, both commit together.
    a.step({
      type: 'appResp',
      from: 'b',
      to: 'a',
      term: 4,
      index: oldIndex + 1,
      reject: false,
      rejectHint: 0,
      rejectTerm: 0,
    });
    expect(a.status().commit).toBe(oldIndex + 1);
  });
});
