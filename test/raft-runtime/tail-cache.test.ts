import { describe, expect, it } from 'vitest';
import { type Entry, entrySize } from '../../src/raft/core/index.js';
import { TailCache } from '../../src/raft/runtime/tail-cache.js';

const entry = (index: number): Entry => ({ term: 1, index, type: 'normal', data: new Uint8Array(10) });

describe('TailCache', () => {
  it('keeps the newest entries within its byte budget, contiguous, across many trims', () => {
    const budget = entrySize(entry(1)) * 100;
    const cache = new TailCache(budget);
    for (let i = 1; i <= 50_000; i += 10) cache.append(Array.from({ length: 10 }, (_, k) => entry(i + k)));
    expect(cache.firstIndex()).toBe(50_000 - 99);
    expect(cache.get(cache.firstIndex() - 1)).toBeUndefined();
    for (let i = cache.firstIndex(); i <= 50_000; i++) expect(cache.get(i)?.index).toBe(i);
    expect(cache.get(50_001)).toBeUndefined();
  });

  it('replaces a conflicting suffix and forgets compacted entries', () => {
    const cache = new TailCache(1 << 20);
    cache.append([1, 2, 3, 4, 5].map(entry));
    cache.append([{ ...entry(4), term: 2 }]);
    expect(cache.get(4)?.term).toBe(2);
    expect(cache.get(5)).toBeUndefined();
    cache.dropBefore(3);
    expect(cache.firstIndex()).toBe(3);
    expect(cache.get(2)).toBeUndefined();
    expect(cache.get(3)?.index).toBe(3);
  });
});
