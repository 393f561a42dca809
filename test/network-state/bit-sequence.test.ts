import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BitSequence, MAX_BITS } from '../../src/network-state/bit-sequence.js';
import { type Offset, toBig } from '../../src/network-state/offset.js';

/** The obvious model: a set of the set bits. */
class NaiveBits {
  readonly bits = new Set<bigint>();
  constructor(readonly size: bigint) {}
  firstFree(from: bigint, to: bigint): bigint | null {
    for (let i = from; i <= to; i++) if (!this.bits.has(i)) return i;
    return null;
  }
  allocate(from: bigint, to: bigint, cursor?: bigint): bigint | null {
    let start = cursor ?? from;
    if (start < from || start > to) start = from;
    let bit = this.firstFree(start, to);
    if (bit === null && start > from) bit = this.firstFree(from, start - 1n);
    if (bit !== null) this.bits.add(bit);
    return bit;
  }
}

type Op =
  | { kind: 'set' | 'unset' | 'isSet'; bit: bigint }
  | { kind: 'firstFree' | 'count'; from: bigint; to: bigint }
  | { kind: 'allocate'; from: bigint; to: bigint; cursor?: bigint };

/** Operations on a window of `width` bits placed at `base` inside a sequence of `size` bits. */
function opsArbitrary(base: bigint, width: number): fc.Arbitrary<Op[]> {
  const bit = fc.integer({ min: 0, max: width - 1 }).map((i) => base + BigInt(i));
  const range = fc.tuple(bit, bit).map(([a, b]) => (a <= b ? { from: a, to: b } : { from: b, to: a }));
  return fc.array(
    fc.oneof(
      fc.record({ kind: fc.constantFrom('set' as const, 'unset' as const, 'isSet' as const), bit }),
      range.map((r) => ({ kind: 'firstFree' as const, ...r })),
      range.map((r) => ({ kind: 'count' as const, ...r })),
      fc
        .tuple(range, fc.option(bit, { nil: undefined }))
        .map(([r, cursor]) => ({ kind: 'allocate' as const, ...r, cursor })),
    ),
    { maxLength: 200 },
  );
}

const big = (x: Offset | null) => (x === null ? null : toBig(x));

function checkAgainstModel(size: bigint, base: bigint, width: number) {
  fc.assert(
    fc.property(opsArbitrary(base, width), (ops) => {
      const seq = new BitSequence(size);
      const model = new NaiveBits(size);
      for (const op of ops) {
        switch (op.kind) {
          case 'set':
            expect(seq.set(op.bit)).toBe(!model.bits.has(op.bit));
            model.bits.add(op.bit);
            break;
          case 'unset':
            expect(seq.unset(op.bit)).toBe(model.bits.has(op.bit));
            model.bits.delete(op.bit);
            break;
          case 'isSet':
            expect(seq.isSet(op.bit)).toBe(model.bits.has(op.bit));
            break;
          case 'firstFree':
            expect(big(seq.firstFree(op.from, op.to))).toBe(model.firstFree(op.from, op.to));
            break;
          case 'count': {
            let expected = 0n;
            for (const b of model.bits) if (b >= op.from && b <= op.to) expected++;
            expect(toBig(seq.countSet(op.from, op.to))).toBe(expected);
            break;
          }
          case 'allocate':
            expect(big(seq.allocate(op))).toBe(model.allocate(op.from, op.to, op.cursor));
            break;
        }
        expect(toBig(seq.freeCount())).toBe(size - BigInt(model.bits.size));
      }
      expect([...seq.setBits()].map(toBig)).toEqual([...model.bits].sort((a, b) => (a < b ? -1 : 1)));
      expect(BitSequence.fromBytes(seq.toBytes()).equals(seq)).toBe(true);
    }),
    { numRuns: 150 },
  );
}

describe('BitSequence', () => {
  it('behaves like a set of bits on a small sequence', () => checkAgainstModel(64n, 0n, 64));

  it('behaves like a set of bits at the top of a 2^64-bit sequence', () =>
    checkAgainstModel(MAX_BITS, MAX_BITS - 40n, 40));

  it('behaves like a set of bits around 2^53, where numbers stop being exact', () =>
    checkAgainstModel(2n ** 60n, 2n ** 53n - 20n, 40));

  it('a fresh sequence is one empty map whatever its size', () => {
    const seq = new BitSequence(MAX_BITS);
    expect(seq.runCount).toBe(0);
    expect(seq.freeCount()).toBe(MAX_BITS);
    expect(seq.firstFree()).toBe(0);
    expect(seq.toBytes().length).toBeLessThan(16);
  });

  it('serial allocation wraps to the start of the range after the last bit', () => {
    const seq = new BitSequence(8);
    expect(seq.allocate({ from: 1, to: 6, cursor: 5 })).toBe(5);
    expect(seq.allocate({ from: 1, to: 6, cursor: 6 })).toBe(6);
    expect(seq.allocate({ from: 1, to: 6, cursor: 7 })).toBe(1);
  });

  it('serial allocation does not hand a just-freed bit straight back', () => {
    const seq = new BitSequence(16);
    const first = seq.allocate({ cursor: 0 });
    seq.unset(first!);
    expect(seq.allocate({ cursor: 1 })).toBe(1);
  });

  it('allocate returns null once the range is full', () => {
    const seq = new BitSequence(4);
    for (let i = 0; i < 4; i++) expect(seq.allocate()).toBe(i);
    expect(seq.allocate()).toBeNull();
    expect(seq.freeCount()).toBe(0);
  });

  it('a serially filled /16 stays a single run', () => {
    const seq = new BitSequence(65536);
    let cursor: Offset = 1;
    for (let i = 0; i < 65534; i++) cursor = (seq.allocate({ from: 1, to: 65534, cursor }) as number) + 1;
    expect(seq.runCount).toBe(1);
    expect(seq.countSet()).toBe(65534);
  });

  it('offsets up to 2^53 are numbers and above are bigints', () => {
    const seq = new BitSequence(MAX_BITS);
    expect(typeof seq.allocate({ cursor: 2 ** 53 - 1 })).toBe('number');
    expect(seq.allocate({ cursor: 2n ** 53n })).toBe(2n ** 53n);
    expect(seq.allocate({ cursor: MAX_BITS - 1n })).toBe(MAX_BITS - 1n);
  });

  it('rejects sizes and bits outside the limits with INVALID_ARGUMENT naming the value', () => {
    expect(() => new BitSequence(0)).toThrow(/not 0/);
    expect(() => new BitSequence(MAX_BITS + 1n)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(() => new BitSequence(8).set(8)).toThrow(/bit 8 is outside/);
    expect(() => new BitSequence(8).isSet(-1)).toThrow(/bit -1/);
  });

  it('rejects a corrupt binary form', () => {
    const bytes = new BitSequence(100).toBytes();
    expect(() => BitSequence.fromBytes(Uint8Array.from([9, ...bytes.slice(1)]))).toThrow(
      /not a bit sequence/,
    );
    expect(() => BitSequence.fromBytes(bytes.slice(0, 1))).toThrow(/end in the middle/);
    expect(() => BitSequence.fromBytes(Uint8Array.from([...bytes, 0]))).toThrow(/trailing/);
  });
});
