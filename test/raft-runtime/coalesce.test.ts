import { describe, expect, it } from 'vitest';
import { MemoryRaftStorage, type Message, RaftCore, type Ready } from '../../src/raft/core/index.js';
import { coalesceMessages } from '../../src/raft/runtime/coalesce.js';

const base = { from: 'a', to: 'b', term: 2 } as const;
const entry = (index: number, term = 2) => ({
  index,
  term,
  type: 'normal' as const,
  data: new Uint8Array([index]),
});
const app = (prevIndex: number, prevTerm: number, indexes: number[], commit: number): Message => ({
  ...base,
  type: 'app',
  prevIndex,
  prevTerm,
  entries: indexes.map((i) => entry(i)),
  commit,
});

describe('coalesceMessages', () => {
  it('merges contiguous appends to one peer, keeping the later commit', () => {
    const out = coalesceMessages([app(4, 2, [5], 3), app(5, 2, [6, 7], 4), app(7, 2, [], 5)], 1 << 20);
    expect(out).toHaveLength(1);
    const m = out[0] as Extract<Message, { type: 'app' }>;
    expect([m.prevIndex, m.prevTerm, m.entries.map((e) => e.index), m.commit]).toEqual([4, 2, [5, 6, 7], 5]);
  });

  it('keeps appends apart when they do not continue, exceed the size, or another message is between', () => {
    expect(coalesceMessages([app(4, 2, [5], 3), app(3, 2, [4], 3)], 1 << 20)).toHaveLength(2);
    expect(coalesceMessages([app(4, 2, [5], 3), app(5, 1, [6], 3)], 1 << 20)).toHaveLength(2);
    expect(coalesceMessages([app(4, 2, [5], 3), app(5, 2, [6], 3)], 30)).toHaveLength(2);
    const vote: Message = { ...base, type: 'voteResp', reject: false };
    expect(coalesceMessages([app(4, 2, [5], 3), vote, app(5, 2, [6], 3)], 1 << 20)).toHaveLength(3);
    // Different peers do not interfere.
    const toC = { ...app(4, 2, [5], 3), to: 'c' } as Message;
    expect(coalesceMessages([app(4, 2, [5], 3), toC, app(5, 2, [6], 3)], 1 << 20).map((m) => m.to)).toEqual([
      'b',
      'c',
    ]);
  });

  it('keeps the highest accepted acknowledgement and passes rejections through', () => {
    const ack = (index: number, reject = false): Message => ({
      ...base,
      type: 'appResp',
      index,
      reject,
      rejectHint: 0,
      rejectTerm: 0,
    });
    expect(coalesceMessages([ack(5), ack(7), ack(6)], 1 << 20)).toEqual([ack(7)]);
    expect(coalesceMessages([ack(5), ack(3, true), ack(6)], 1 << 20)).toEqual([ack(5), ack(3, true), ack(6)]);
  });

  it('merges heartbeats and their answers to the latest read round', () => {
    const hb = (commit: number, readContext: number): Message => ({
      ...base,
      type: 'heartbeat',
      commit,
      readContext,
    });
    expect(coalesceMessages([hb(3, 1), hb(4, 0)], 1 << 20)).toEqual([hb(4, 1)]);
    const resp = (readContext: number): Message => ({ ...base, type: 'heartbeatResp', readContext });
    expect(coalesceMessages([resp(2), resp(1)], 1 << 20)).toEqual([resp(2)]);
  });

  it('leaves a follower in the same state as the messages one by one would (real cores)', () => {
    const conf = { voters: ['a', 'b', 'c'], learners: [] };
    const run = (coalesce: boolean) => {
      const cores = Object.fromEntries(
        ['a', 'b', 'c'].map((id) => {
          const storage = new MemoryRaftStorage(conf);
          return [id, { core: new RaftCore({ id, storage, electionJitterTick: 0 }), storage }];
        }),
      );
      const drain = (id: string): Message[] => {
        const { core, storage } = cores[id];
        const out: Message[] = [];
        while (core.hasReady()) {
          const rd: Ready = core.ready();
          storage.persist(rd);
          out.push(...(coalesce ? coalesceMessages(rd.messages, 1 << 20) : rd.messages));
          core.advance(rd);
        }
        return out;
      };
      const deliver = (messages: Message[]) => {
        let queue = messages;
        let sent = 0;
        while (queue.length > 0) {
          sent += queue.length;
          const next: Message[] = [];
          for (const m of queue) {
            cores[m.to].core.step(m);
            next.push(...drain(m.to));
          }
          queue = next;
        }
        return sent;
      };
      cores.a.core.campaign();
      let sent = deliver(drain('a'));
      for (let round = 0; round < 5; round++) {
        for (let i = 0; i < 20; i++) cores.a.core.propose(new Uint8Array([round, i]));
        sent += deliver(drain('a'));
      }
      const s = cores.b.core.status();
      const first = cores.b.storage.firstIndex();
      return {
        sent,
        commit: s.commit,
        last: s.lastIndex,
        log: cores.b.storage.entries(first, s.lastIndex + 1),
      };
    };
    const plain = run(false);
    const merged = run(true);
    expect(merged.last).toBe(plain.last);
    expect(merged.commit).toBe(plain.commit);
    expect(merged.log).toEqual(plain.log);
    expect(merged.log.length).toBeGreaterThan(100);
    expect(merged.sent).toBeLessThan(plain.sent / 4);
  });
});
