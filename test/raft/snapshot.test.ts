import { describe, expect, it } from 'vitest';
import { dec, enc, ofType, TestNetwork } from './harness.js';

const config = {
  preVote: false,
  checkQuorum: false,
  electionTick: 10,
  heartbeatTick: 1,
  snapshotChunkSize: 16,
};
const IMAGE = 'state machine image: '.padEnd(100, '#'); // 100 bytes = 7 chunks of 16

/** a leads; c misses 20 entries; a snapshots and compacts its log. */
function laggingFollower(): { net: TestNetwork; snapIndex: number } {
  const net = new TestNetwork(['a', 'b', 'c'], config);
  net.elect('a');
  net.tick(1);
  net.isolate('c');
  for (let i = 0; i < 20; i++) net.propose('a', `e${i}`);
  const a = net.get('a');
  const applied = a.applied.at(-1)?.index as number;
  a.storage.createSnapshot(applied, a.core.confStateAt(applied), enc(IMAGE));
  expect(a.core.firstIndex()).toBe(applied + 1);
  net.heal();
  net.clearSent();
  return { net, snapIndex: applied };
}

describe('snapshots and InstallSnapshot', () => {
  it('a follower behind the compacted log receives the snapshot in chunks and installs it', () => {
    const { net, snapIndex } = laggingFollower();
    net.tick(3);
    const chunks = ofType(net.sent, 'snap').filter((m) => m.to === 'c');
    expect(chunks.map((m) => m.offset)).toEqual([0, 16, 32, 48, 64, 80, 96]);
    expect(chunks.every((m) => m.chunk.byteLength <= 16 && m.totalSize === 100)).toBe(true);
    const installed = net.get('c').readies.find((rd) => rd.snapshot)?.snapshot;
    expect(installed?.metadata).toMatchObject({ index: snapIndex, confState: { voters: ['a', 'b', 'c'] } });
    expect(dec(installed?.data ?? new Uint8Array())).toBe(IMAGE);
    expect(net.core('c').firstIndex()).toBe(snapIndex + 1);
    // Then it catches up with entries after the snapshot.
    net.propose('a', 'after');
    net.tick(2);
    expect(net.appliedData('c')).toEqual(['after']);
    expect(net.core('c').status().commit).toBe(net.core('a').status().commit);
  });

  it('a lost chunk is sent again after the next heartbeat response', () => {
    const { net, snapIndex } = laggingFollower();
    let dropped = false;
    net.dropIf((m) => {
      if (!dropped && m.type === 'snap' && m.offset === 32) {
        dropped = true;
        return true;
      }
      return false;
    });
    net.tick(6);
    expect(dropped).toBe(true);
    const offsets = ofType(net.sent, 'snap').map((m) => m.offset);
    expect(offsets.filter((o) => o === 32).length).toBeGreaterThanOrEqual(2);
    expect(net.core('c').status().commit).toBeGreaterThanOrEqual(snapIndex);
    expect(dec(net.get('c').storage.snapshot().data)).toBe(IMAGE);
  });

  it('a follower that restarts mid-transfer asks for the snapshot from the start', () => {
    const { net, snapIndex } = laggingFollower();
    // Only the first two chunks get through, then c crashes.
    net.dropIf((m) => m.type === 'snap' && m.offset >= 32);
    net.tick(3);
    expect(ofType(net.sent, 'snapResp').map((m) => m.nextOffset)).toContain(32);
    net.restart('c');
    net.heal();
    net.clearSent();
    net.tick(6);
    const restartRequests = ofType(net.sent, 'snapResp').filter((m) => m.from === 'c' && m.nextOffset === 0);
    expect(restartRequests.length).toBeGreaterThanOrEqual(1);
    expect(net.core('c').status().commit).toBeGreaterThanOrEqual(snapIndex);
    expect(dec(net.get('c').storage.snapshot().data)).toBe(IMAGE);
  });

  it('a snapshot whose last entry the follower already has only advances its commit index', () => {
    const net = new TestNetwork(['a', 'b', 'c'], config);
    net.elect('a');
    net.propose('a', 'x');
    const c = net.get('c');
    const { lastIndex, term } = c.core.status();
    const before = c.readies.length;
    c.core.step({
      type: 'snap',
      from: 'a',
      to: 'c',
      term,
      metadata: {
        index: lastIndex,
        term: c.core.logTerm(lastIndex) as number,
        confState: { voters: ['a', 'b', 'c'], learners: [] },
      },
      offset: 0,
      chunk: enc('x'),
      totalSize: 1,
    });
    net.flush();
    expect(c.readies.slice(before).some((rd) => rd.snapshot)).toBe(false);
    expect(c.core.status().commit).toBe(lastIndex);
  });

  it('a snapshot older than the follower commit index is answered with the commit index', () => {
    const net = new TestNetwork(['a', 'b', 'c'], config);
    net.elect('a');
    net.propose('a', 'x');
    net.tick(1);
    const c = net.core('c');
    const { commit, term } = c.status();
    c.step({
      type: 'snap',
      from: 'a',
      to: 'c',
      term,
      metadata: { index: 1, term: 1, confState: { voters: ['a', 'b', 'c'], learners: [] } },
      offset: 0,
      chunk: new Uint8Array(),
      totalSize: 0,
    });
    net.flush();
    expect(ofType(net.queue, 'appResp').at(-1)).toMatchObject({ to: 'a', index: commit, reject: false });
  });

  it('a restarted server rebuilds from its snapshot and the log after it', () => {
    const { net, snapIndex } = laggingFollower();
    net.tick(3);
    net.propose('a', 'after');
    net.tick(1);
    const restarted = net.restart('c');
    expect(restarted.core.firstIndex()).toBe(snapIndex + 1);
    expect(restarted.core.status()).toMatchObject({
      applied: snapIndex,
      confState: { voters: ['a', 'b', 'c'] },
    });
    net.tick(2);
    // It re-applies what follows its snapshot.
    expect(net.appliedData('c')).toEqual(['after']);
  });
});
