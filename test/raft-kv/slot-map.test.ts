import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashKey, SlotMap } from '../../src/raft/kv/slot-map.js';

/** A SlotMap checked against a Map after every operation sequence. */
function checkAgainstMap(ops: [boolean, number][], keyOf: (n: number) => string): void {
  const map = new SlotMap();
  const model = new Map<string, number>();
  const freeSlots: number[] = [];
  let nextSlot = 0;
  for (const [add, n] of ops) {
    const key = keyOf(n);
    if (add) {
      if (model.has(key)) continue;
      const slot = freeSlots.pop() ?? nextSlot++;
      map.add(key, slot);
      model.set(key, slot);
    } else {
      const slot = map.delete(key);
      expect(slot).toBe(model.get(key) ?? -1);
      if (slot >= 0) freeSlots.push(slot);
      model.delete(key);
      expect(map.keyOf(Math.max(slot, 0)) === key).toBe(false);
    }
  }
  expect(map.size).toBe(model.size);
  for (const [key, slot] of model) {
    expect(map.get(key)).toBe(slot);
    expect(map.keyOf(slot)).toBe(key);
  }
  for (let n = 0; n < 50; n++) if (!model.has(keyOf(-n - 1))) expect(map.get(keyOf(-n - 1))).toBe(-1);
}

describe('SlotMap', () => {
  it('holds what a Map would through random adds and deletes', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.nat(2000)), { maxLength: 3000 }), (ops) =>
        checkAgainstMap(ops, (n) => `k/${n}`),
      ),
      { seed: 11, numRuns: 100 },
    );
  });

  it('keeps every key findable when deletes shift long probe runs back (keys of one shard and one home)', () => {
    // Keys whose hashes share a shard and the low bits: one long run in one table.
    const crowded: string[] = [];
    const first = hashKey('c0');
    for (let i = 0; crowded.length < 300; i++) {
      const h = hashKey(`c${i}`);
      if (h >>> 26 === first >>> 26 && (h & 7) === (first & 7)) crowded.push(`c${i}`);
    }
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.nat(crowded.length - 1)), { maxLength: 2000 }), (ops) =>
        checkAgainstMap(ops, (n) => (n >= 0 ? crowded[n] : `absent${n}`)),
      ),
      { seed: 12, numRuns: 60 },
    );
  });

  it('grows a shard at a time: no insert re-places more than a small share of the keys', () => {
    const map = new SlotMap();
    const keys = 200_000;
    for (let i = 0; i < keys; i++) map.add(`mem/${String(i).padStart(8, '0')}`, i);
    expect(map.size).toBe(keys);
    // One Map would rehash all of them in one insert (at the 131,072nd key here).
    expect(map.largestRebuild).toBeLessThanOrEqual(keys / 16);
    for (let i = 0; i < keys; i += 997) expect(map.get(`mem/${String(i).padStart(8, '0')}`)).toBe(i);
  });

  it('makes room for a known count at once: no rebuild while it fills', () => {
    const map = new SlotMap();
    map.reserve(50_000);
    const before = map.largestRebuild;
    for (let i = 0; i < 50_000; i++) map.add(`r${i}`, i);
    expect(map.largestRebuild).toBe(before);
    expect(map.get('r49999')).toBe(49_999);
  });
});
