import { InvalidArgumentError } from '../store/errors.js';
import {
  addOffset,
  maxOffset,
  minOffset,
  nextOffset,
  type Offset,
  prevOffset,
  subOffset,
  toBig,
  toOffset,
} from './offset.js';

/** The largest sequence: every address of an IPv6 /64. */
export const MAX_BITS = 2n ** 64n;

const FORMAT_VERSION = 1;

/**
 * A run-length encoded bit sequence of up to 2^64 bits (bit 0 first), the occupancy map behind
 * every pool and ID range. It stores the maximal runs of set bits as sorted [start, end) pairs,
 * so a fresh or a serially filled map is a handful of numbers however large it is, and a serial
 * allocation is a binary search (usually skipped by a hint) plus extending one run.
 */
export class BitSequence {
  readonly size: Offset;
  // Parallel arrays of the set runs: starts[k] <= bits < ends[k]; runs never touch or overlap.
  #starts: Offset[] = [];
  #ends: Offset[] = [];
  #setCount: Offset = 0;
  /** The run index the last lookup found: serial access hits it without a search. */
  #hint = 0;

  constructor(size: number | bigint) {
    const bits = toBig(typeof size === 'number' && !Number.isInteger(size) ? Number.NaN : size);
    if (bits < 1n || bits > MAX_BITS) {
      throw new InvalidArgumentError(`a bit sequence holds 1 to 2^64 bits, not ${String(size)}`);
    }
    this.size = toOffset(bits);
  }

  /** Bits set. */
  get setCount(): Offset {
    return this.#setCount;
  }

  /** Bits free. */
  freeCount(): Offset {
    return subOffset(this.size, this.#setCount);
  }

  /** The number of set runs (how compact the map is). */
  get runCount(): number {
    return this.#starts.length;
  }

  isSet(bit: Offset): boolean {
    const i = this.#check(bit);
    const k = this.#find(i);
    return k >= 0 && i < this.#ends[k];
  }

  /** Sets `bit`; false when it was already set. */
  set(bit: Offset): boolean {
    return this.#set(this.#check(bit));
  }

  /** Clears `bit`; false when it was already clear. */
  unset(bit: Offset): boolean {
    const i = this.#check(bit);
    const k = this.#find(i);
    if (k < 0 || i >= this.#ends[k]) return false;
    const start = this.#starts[k];
    const end = this.#ends[k];
    const after = nextOffset(i);
    if (start === i && end === after) {
      this.#starts.splice(k, 1);
      this.#ends.splice(k, 1);
    } else if (start === i) {
      this.#starts[k] = after;
    } else if (end === after) {
      this.#ends[k] = i;
    } else {
      this.#ends[k] = i;
      this.#starts.splice(k + 1, 0, after);
      this.#ends.splice(k + 1, 0, end);
    }
    this.#setCount = prevOffset(this.#setCount);
    return true;
  }

  /** The first clear bit in [from, to] (inclusive), or null when all are set. */
  firstFree(from: Offset = 0, to: Offset = prevOffset(this.size)): Offset | null {
    const lo = this.#check(from);
    const hi = this.#check(to);
    if (lo > hi) return null;
    const k = this.#find(lo);
    // Runs are maximal, so the bit right after the run holding `lo` is clear.
    const candidate = k >= 0 && lo < this.#ends[k] ? this.#ends[k] : lo;
    return candidate <= hi ? candidate : null;
  }

  /**
   * Sets and returns a clear bit in [from, to], or null when there is none. With a `cursor` it is
   * serial: the first clear bit at or after the cursor, wrapping to `from`; without, first fit.
   */
  allocate(opts: { from?: Offset; to?: Offset; cursor?: Offset } = {}): Offset | null {
    const from = opts.from ?? 0;
    const to = opts.to ?? prevOffset(this.size);
    let start = opts.cursor ?? from;
    if (start < from || start > to) start = from;
    let bit = this.firstFree(start, to);
    if (bit === null && start > from) bit = this.firstFree(from, prevOffset(start));
    if (bit !== null) this.#set(bit);
    return bit;
  }

  /** Set bits in [from, to] (inclusive). */
  countSet(from: Offset = 0, to: Offset = prevOffset(this.size)): Offset {
    const lo = this.#check(from);
    const hiExclusive = nextOffset(this.#check(to));
    let total: Offset = 0;
    let k = Math.max(0, this.#find(lo));
    for (; k < this.#starts.length && this.#starts[k] < hiExclusive; k++) {
      const start = maxOffset(this.#starts[k], lo);
      const end = minOffset(this.#ends[k], hiExclusive);
      if (end > start) total = addOffset(total, subOffset(end, start));
    }
    return total;
  }

  /** The set runs as [start, end) pairs, in order. */
  *runs(): IterableIterator<[Offset, Offset]> {
    for (let k = 0; k < this.#starts.length; k++) yield [this.#starts[k], this.#ends[k]];
  }

  /** Every set bit, in order (use on small maps or narrow runs only). */
  *setBits(): IterableIterator<Offset> {
    for (const [start, end] of this.runs()) {
      for (let bit = start; bit < end; bit = nextOffset(bit)) yield bit;
    }
  }

  clone(): BitSequence {
    const copy = new BitSequence(this.size);
    copy.#starts = [...this.#starts];
    copy.#ends = [...this.#ends];
    copy.#setCount = this.#setCount;
    return copy;
  }

  equals(other: BitSequence): boolean {
    if (this.size !== other.size || this.#starts.length !== other.#starts.length) return false;
    for (let k = 0; k < this.#starts.length; k++) {
      if (this.#starts[k] !== other.#starts[k] || this.#ends[k] !== other.#ends[k]) return false;
    }
    return true;
  }

  /** Compact binary form: version, size, then each run as (gap since the previous run, length), LEB128. */
  toBytes(): Uint8Array {
    const out: number[] = [FORMAT_VERSION];
    writeVarint(out, this.size);
    writeVarint(out, this.#starts.length);
    let previousEnd: Offset = 0;
    for (let k = 0; k < this.#starts.length; k++) {
      writeVarint(out, subOffset(this.#starts[k], previousEnd));
      writeVarint(out, subOffset(this.#ends[k], this.#starts[k]));
      previousEnd = this.#ends[k];
    }
    return Uint8Array.from(out);
  }

  static fromBytes(bytes: Uint8Array): BitSequence {
    const reader = { bytes, pos: 0 };
    if (bytes[0] !== FORMAT_VERSION) {
      throw new InvalidArgumentError(`not a bit sequence (format byte ${String(bytes[0])})`);
    }
    reader.pos = 1;
    const seq = new BitSequence(readVarint(reader));
    const runs = readVarint(reader);
    if (typeof runs !== 'number') throw new InvalidArgumentError('bit sequence has too many runs');
    let previousEnd: Offset = 0;
    let count: Offset = 0;
    for (let k = 0; k < runs; k++) {
      const start = addOffset(previousEnd, readVarint(reader));
      const length = readVarint(reader);
      const end = addOffset(start, length);
      if (length === 0 || (k > 0 && start === previousEnd) || end > seq.size) {
        throw new InvalidArgumentError(`bit sequence run ${k} is malformed`);
      }
      seq.#starts.push(start);
      seq.#ends.push(end);
      count = addOffset(count, length);
      previousEnd = end;
    }
    if (reader.pos !== bytes.length) throw new InvalidArgumentError('bit sequence has trailing bytes');
    seq.#setCount = count;
    return seq;
  }

  #set(i: Offset): boolean {
    const k = this.#find(i);
    if (k >= 0 && i < this.#ends[k]) return false;
    const after = nextOffset(i);
    const joinsLeft = k >= 0 && this.#ends[k] === i;
    const joinsRight = k + 1 < this.#starts.length && this.#starts[k + 1] === after;
    if (joinsLeft && joinsRight) {
      this.#ends[k] = this.#ends[k + 1];
      this.#starts.splice(k + 1, 1);
      this.#ends.splice(k + 1, 1);
    } else if (joinsLeft) {
      this.#ends[k] = after;
    } else if (joinsRight) {
      this.#starts[k + 1] = i;
      this.#hint = k + 1;
    } else {
      this.#starts.splice(k + 1, 0, i);
      this.#ends.splice(k + 1, 0, after);
      this.#hint = k + 1;
    }
    this.#setCount = nextOffset(this.#setCount);
    return true;
  }

  /** The index of the last run starting at or before `i`, or -1. */
  #find(i: Offset): number {
    const starts = this.#starts;
    const n = starts.length;
    const h = this.#hint;
    if (h < n && starts[h] <= i && (h + 1 === n || starts[h + 1] > i)) return h;
    let lo = 0;
    let hi = n - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid] <= i) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (found >= 0) this.#hint = found;
    return found;
  }

  #check(bit: Offset): Offset {
    if (typeof bit === 'number') {
      if (Number.isInteger(bit) && bit >= 0 && bit < this.size) return bit;
    } else if (typeof bit === 'bigint' && bit >= 0n && bit < this.size) {
      return toOffset(bit);
    }
    throw new InvalidArgumentError(`bit ${String(bit)} is outside the sequence [0, ${String(this.size)})`);
  }
}

function writeVarint(out: number[], value: Offset): void {
  if (typeof value === 'number' && value < 2 ** 31) {
    let v = value;
    while (v >= 0x80) {
      out.push((v & 0x7f) | 0x80);
      v >>>= 7;
    }
    out.push(v);
    return;
  }
  let v = toBig(value);
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
}

function readVarint(reader: { bytes: Uint8Array; pos: number }): Offset {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    if (reader.pos >= reader.bytes.length || shift > 70n) {
      throw new InvalidArgumentError('bit sequence bytes end in the middle of a number');
    }
    const byte = reader.bytes[reader.pos++];
    result |= BigInt(byte & 0x7f) << shift;
    if (byte < 0x80) return toOffset(result);
    shift += 7n;
  }
}
