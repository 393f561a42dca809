import { describe, expect, it } from 'vitest';
import { toBytes } from '../../src/store/values.js';

describe('toBytes', () => {
  it('copies bytes: a later change to the source does not reach the copy', () => {
    const source = new Uint8Array([1, 2, 3]);
    const copy = toBytes(source);
    source[0] = 9;
    expect([...copy]).toEqual([1, 2, 3]);
  });

  it('keeps small copies apart though they share a slab: writing one changes no other', () => {
    const copies = Array.from({ length: 200 }, (_, i) => toBytes(new Uint8Array(100).fill(i)));
    copies[50].fill(255);
    copies.forEach((copy, i) => {
      expect(copy.byteLength).toBe(100);
      if (i !== 50) expect(copy.every((b) => b === i)).toBe(true);
    });
  });

  it('copies empty, large and string values exactly', () => {
    expect(toBytes(new Uint8Array(0)).byteLength).toBe(0);
    const large = new Uint8Array(100_000).map((_, i) => i % 251);
    const copy = toBytes(large);
    expect(copy).not.toBe(large);
    expect(Buffer.compare(copy, large)).toBe(0);
    expect([...toBytes('hé')]).toEqual([0x68, 0xc3, 0xa9]);
  });

  it('refuses what is neither bytes nor a string with INVALID_ARGUMENT', () => {
    expect(() => toBytes(42 as unknown as string)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});
