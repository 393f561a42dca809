import { describe, expect, it } from 'vitest';
import { malformedMessage } from '../../src/raft/runtime/message-check.js';

const entry = (index: number, term = 2) => ({ index, term, type: 'normal', data: new Uint8Array([1]) });
const app = (entries: unknown[], extra: Record<string, unknown> = {}) => ({
  type: 'app',
  from: 'a',
  to: 'b',
  term: 2,
  prevIndex: 4,
  prevTerm: 1,
  commit: 3,
  entries,
  ...extra,
});

describe('malformedMessage', () => {
  it('accepts well-formed messages of every kind', () => {
    const env = { from: 'a', to: 'b', term: 3 };
    const ok = [
      app([entry(5), entry(6)]),
      app([]),
      { ...env, type: 'vote', lastLogIndex: 4, lastLogTerm: 2, transfer: false },
      { ...env, type: 'preVoteResp', reject: true },
      { ...env, type: 'appResp', index: 4, reject: false, rejectHint: 0, rejectTerm: 0 },
      { ...env, type: 'heartbeat', commit: 2, readContext: 0 },
      { ...env, type: 'heartbeatResp', readContext: 1 },
      {
        ...env,
        type: 'snap',
        offset: 0,
        totalSize: 3,
        chunk: new Uint8Array(3),
        metadata: { index: 9, term: 2, confState: { voters: ['a'], learners: [] } },
      },
      { ...env, type: 'snapResp', index: 9, nextOffset: 3, chunkOffset: 0 },
      { ...env, type: 'timeoutNow' },
      { ...env, type: 'prop', entries: [{ type: 'normal', data: new Uint8Array() }] },
      { ...env, type: 'readIndex', requestId: 'r1' },
      { ...env, type: 'readIndexResp', requestId: 'r1', index: -1 },
      { ...env, type: 'transferLeader', transferee: 'c' },
    ];
    for (const m of ok) expect(malformedMessage(m), JSON.stringify(m)).toBeNull();
  });

  it('refuses an append whose entries are not contiguous from prevIndex + 1', () => {
    expect(malformedMessage(app([entry(5), entry(7)]))).toMatch(/entry 7 follows 5/);
    expect(malformedMessage(app([entry(6)]))).toMatch(/entry 6 follows 4/);
  });

  it('refuses an append whose entry terms go down or exceed the message term', () => {
    expect(malformedMessage(app([entry(5, 2), entry(6, 1)]))).toMatch(/term 1 after term 2/);
    expect(malformedMessage(app([entry(5, 3)]))).toMatch(/message term 2/);
    expect(malformedMessage(app([entry(5, 0)]))).toMatch(/term 0 after term 1/);
  });

  it('refuses garbage: wrong types, negative or fractional numbers, unknown kinds', () => {
    expect(malformedMessage(null)).toBe('not an object');
    expect(malformedMessage('x')).toBe('not an object');
    expect(malformedMessage({ type: 'nope', from: 'a', to: 'b', term: 1 })).toMatch(/unknown message type/);
    expect(malformedMessage(app([entry(5)], { term: -1 }))).toMatch(/bad term/);
    expect(malformedMessage(app([entry(5)], { commit: 1.5 }))).toMatch(/bad commit/);
    expect(malformedMessage(app('entries' as unknown as unknown[]))).toMatch(/must be an array/);
    expect(malformedMessage(app([{ ...entry(5), data: 'text' }]))).toMatch(/bad entry/);
    expect(
      malformedMessage({ type: 'heartbeat', from: 'a', to: 'b', term: 1, commit: '2', readContext: 0 }),
    ).toMatch(/bad commit/);
  });
});
