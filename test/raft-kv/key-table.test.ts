import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyIndex } from '../../src/raft/kv/key-index.js';
import { KeyTable } from '../../src/raft/kv/key-table.js';

describe('KeyTable', () => {
  it('holds what a Map would, through writes, rewrites and deletes of values of every size', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.nat(30), fc.oneof(fc.constant(-1), fc.nat(300), fc.constant(70_000)), fc.nat(255)),
          { maxLength: 400 },
        ),
        (ops) => {
          const table = new KeyTable();
          const model = new Map<string, Uint8Array>();
          for (const [k, size, fill] of ops) {
            const key = `k${k}`;
            if (size < 0) {
              expect(table.delete(key)).toBe(model.delete(key));
            } else {
              const value = new Uint8Array(size).fill(fill);
              table.set(key, { value, mod: fill, create: 1, lease: 0 });
              model.set(key, value);
            }
          }
          expect(table.size).toBe(model.size);
          for (const [key, value] of model) {
            expect(Buffer.compare(table.value(key) as Uint8Array, value), key).toBe(0);
          }
        },
      ),
      { seed: 5, numRuns: 200 },
    );
  });

  it('copies a value in: changing the caller buffer afterwards changes nothing', () => {
    const table = new KeyTable();
    const value = new Uint8Array([1, 2, 3]);
    table.set('k', { value, mod: 1, create: 1, lease: 0 });
    value.fill(9);
    expect([...(table.value('k') as Uint8Array)]).toEqual([1, 2, 3]);
  });

  it('keeps views handed out valid while rewrites empty the slabs they point into', () => {
    const table = new KeyTable();
    const value = (i: number) => new Uint8Array(100).fill(i % 256);
    for (let i = 0; i < 30_000; i++) table.set(`k${i}`, { value: value(i), mod: i, create: i, lease: 0 });
    const held = table.value('k7') as Uint8Array;
    // Rewrite almost everything: old slabs go sparse and are emptied into new ones.
    for (let round = 0; round < 3; round++)
      for (let i = 0; i < 30_000; i++)
        if (i % 50 !== 0) table.set(`k${i}`, { value: value(i + 1), mod: i, create: i, lease: 0 });
    expect([...held].every((b) => b === 7)).toBe(true);
    expect(table.value('k0')).toEqual(value(0));
    expect(table.value('k7')).toEqual(value(8));
    // Holes are reclaimed: far less than the 4 × 3 MB written stays allocated.
    expect(table.slabBytes).toBeLessThan(8 * 1024 * 1024);
  });

  it('takes a restored frame of values as one slab, and reclaims it once its values are rewritten', () => {
    const table = new KeyTable();
    const count = 4000;
    // The value section of a key frame: per value u32 slot, u32 length (little-endian), the value.
    const section = Buffer.alloc(count * (8 + 100));
    for (let i = 0; i < count; i++) {
      section.writeUInt32LE(i, i * 108);
      section.writeUInt32LE(100, i * 108 + 4);
      section.fill(i % 256, i * 108 + 8, (i + 1) * 108);
    }
    const slab = table.adoptSlab(section);
    section.fill(0); // copied in: the section's buffer may be reused
    for (let i = 0; i < count; i++) table.appendRestored(`k${i}`, slab, i * 108 + 8, 100, i, i, 0);
    expect(table.size).toBe(count);
    expect(table.value('k7')).toEqual(new Uint8Array(100).fill(7));
    expect(() => table.appendRestored('other', slab, 8, 100, 1, 1, 0)).toThrow(/not numbered/);
    for (let i = 0; i < count; i++)
      if (i % 10 !== 0)
        table.set(`k${i}`, { value: new Uint8Array(100).fill(1), mod: 1, create: 1, lease: 0 });
    expect(table.value('k10')).toEqual(new Uint8Array(100).fill(10));
    expect(table.value('k11')).toEqual(new Uint8Array(100).fill(1));
    // The adopted slab went sparse and was emptied: what stays is about one current slab.
    expect(table.slabBytes).toBeLessThanOrEqual(1024 * 1024);
  });
});

describe('KeyIndex', () => {
  it('keeps keys sorted and ranges exact through random inserts and removals', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.nat(3000)), { maxLength: 3000 }), (ops) => {
        const index = new KeyIndex();
        const model = new Set<string>();
        for (const [add, n] of ops) {
          const key = `d${n % 7}/${n}`;
          if (add) {
            index.add(key);
            model.add(key);
          } else {
            index.remove(key);
            model.delete(key);
          }
        }
        const sorted = [...model].sort();
        expect(index.all()).toEqual(sorted);
        expect(index.size).toBe(sorted.length);
        expect(index.range('d3/')).toEqual(sorted.filter((k) => k.startsWith('d3/')));
      }),
      { seed: 8, numRuns: 100 },
    );
  });

  it('hands a freeze the order of its moment while later changes copy the blocks they touch', () => {
    const index = new KeyIndex();
    for (let i = 0; i < 5000; i++) index.add(`k${String(i).padStart(5, '0')}`);
    const frozen = index.freeze();
    const before = frozen.flat();
    for (let i = 0; i < 5000; i += 3) index.remove(`k${String(i).padStart(5, '0')}`);
    for (let i = 0; i < 2000; i++) index.add(`j${i}`);
    expect(frozen.flat()).toEqual(before);
    index.thaw();
    expect(index.size).toBe(5000 - 1667 + 2000);
  });
});
