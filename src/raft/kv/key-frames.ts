import { type KeyTable, VALUE_HEADER } from './key-table.js';

/**
 * The keys of a snapshot image, in binary frames: a million keys are written and read back
 * in a fraction of the time a generic encoder takes, with no object made per key on either
 * side (values are copied straight from the key table's slabs, and back into them).
 *
 * Body (image version 3): 0xc1 (a byte msgpack never uses, so a reader tells these frames
 * from the others) | u32 count | u32 ordinal of the frame's first key in the image | u32 bytes
 * of the key section | key section: per key u32 key bytes | key (UTF-8) | f64 revision of the
 * last change | f64 creation revision | f64 lease | f64 lease TTL (ms) | value section: per
 * key u32 ordinal | u32 value bytes | value (little-endian: the key table's own slab layout,
 * so a restore takes the whole section as one slab, one copy per frame, not one per value).
 * Big-endian integers and doubles elsewhere.
 *
 * Version 2 (before): per key u32 key bytes | key | u32 value bytes | value | the four f64;
 * still read (`readKeyFrame`), never written.
 */
export const KEY_FRAME_MARK = 0xc1;
const FRAME_HEAD = 13;
const PER_KEY = 4 + 8 * 4;

/** A key's state as the snapshot wants it written: a copy kept aside (copy-on-write) or a live slot. */
export interface KeyImage {
  value: Uint8Array;
  mod: number;
  create: number;
  lease: number;
  ttlMs: number;
}

/** Builds one key frame. */
export class KeyFrameBuilder {
  private readonly keys: string[] = [];
  private readonly keyBytes: number[] = [];
  /** A KeyImage, or the slot number of a live key. */
  private readonly sources: (KeyImage | number)[] = [];
  private readonly ttls: number[] = [];
  private keySection = 0;
  private valueSection = 0;

  /** `firstOrdinal`: how many keys the image holds before this frame's. */
  constructor(
    private readonly table: KeyTable,
    private readonly firstOrdinal: number,
  ) {}

  get count(): number {
    return this.keys.length;
  }

  /** Bytes the frame will take. */
  get size(): number {
    return FRAME_HEAD + this.keySection + this.valueSection;
  }

  addImage(key: string, image: KeyImage): void {
    this.push(key, image, image.value.byteLength, image.ttlMs);
  }

  addSlot(key: string, slot: number, ttlMs: number): void {
    this.push(key, slot, this.table.slotValueLength(slot), ttlMs);
  }

  private push(key: string, source: KeyImage | number, valueBytes: number, ttlMs: number): void {
    const keyBytes = Buffer.byteLength(key, 'utf8');
    this.keys.push(key);
    this.keyBytes.push(keyBytes);
    this.sources.push(source);
    this.ttls.push(ttlMs);
    this.keySection += PER_KEY + keyBytes;
    this.valueSection += VALUE_HEADER + valueBytes;
  }

  finish(): Uint8Array {
    const out = Buffer.allocUnsafe(this.size);
    out[0] = KEY_FRAME_MARK;
    out.writeUInt32BE(this.keys.length, 1);
    out.writeUInt32BE(this.firstOrdinal, 5);
    out.writeUInt32BE(this.keySection, 9);
    let at = FRAME_HEAD;
    let valueAt = FRAME_HEAD + this.keySection;
    for (let i = 0; i < this.keys.length; i++) {
      out.writeUInt32BE(this.keyBytes[i], at);
      at += 4;
      at += out.write(this.keys[i], at, this.keyBytes[i], 'utf8');
      const source = this.sources[i];
      out.writeUInt32LE(this.firstOrdinal + i, valueAt);
      if (typeof source === 'number') {
        const length = this.table.slotValueLength(source);
        out.writeUInt32LE(length, valueAt + 4);
        this.table.copySlotValue(source, out, valueAt + VALUE_HEADER);
        valueAt += VALUE_HEADER + length;
        out.writeDoubleBE(this.table.slotMod(source), at);
        out.writeDoubleBE(this.table.slotCreate(source), at + 8);
        out.writeDoubleBE(this.table.slotLease(source), at + 16);
      } else {
        out.writeUInt32LE(source.value.byteLength, valueAt + 4);
        out.set(source.value, valueAt + VALUE_HEADER);
        valueAt += VALUE_HEADER + source.value.byteLength;
        out.writeDoubleBE(source.mod, at);
        out.writeDoubleBE(source.create, at + 8);
        out.writeDoubleBE(source.lease, at + 16);
      }
      out.writeDoubleBE(this.ttls[i], at + 24);
      at += 32;
    }
    return out;
  }
}

/**
 * Restores a key frame (version 3) into `table`, which holds exactly the image's keys before
 * this frame's (their ordinals are its slots): the value section becomes one slab, each key
 * takes the next slot. `onKey` is called per key, in order. Throws on a frame that does not
 * add up (the caller turns that into a corrupt-image error).
 */
export function restoreKeyFrame(
  body: Uint8Array,
  table: KeyTable,
  onKey: (key: string, lease: number, ttlMs: number) => void,
): void {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (buf.byteLength < FRAME_HEAD || buf[0] !== KEY_FRAME_MARK) throw new Error('not a key frame');
  const count = buf.readUInt32BE(1);
  const first = buf.readUInt32BE(5);
  const keysEnd = FRAME_HEAD + buf.readUInt32BE(9);
  if (keysEnd > buf.byteLength) throw new Error('key frame cut short');
  if (first !== table.size) throw new Error(`key frame starts at key ${first}, ${table.size} read before it`);
  const values = buf.subarray(keysEnd);
  const slab = table.adoptSlab(values);
  let at = FRAME_HEAD;
  let valueAt = 0;
  for (let i = 0; i < count; i++) {
    if (at + 4 > keysEnd) throw new Error('key frame cut short');
    const keyBytes = buf.readUInt32BE(at);
    if (at + 4 + keyBytes + 32 > keysEnd) throw new Error('key frame cut short');
    const key = buf.toString('utf8', at + 4, at + 4 + keyBytes);
    at += 4 + keyBytes;
    if (valueAt + VALUE_HEADER > values.byteLength) throw new Error('key frame values cut short');
    const ordinal = values.readUInt32LE(valueAt);
    const length = values.readUInt32LE(valueAt + 4);
    valueAt += VALUE_HEADER;
    if (ordinal !== first + i) throw new Error(`key frame value ${i} is numbered ${ordinal}`);
    if (valueAt + length > values.byteLength) throw new Error('key frame values cut short');
    const lease = buf.readDoubleBE(at + 16);
    table.appendRestored(key, slab, valueAt, length, buf.readDoubleBE(at), buf.readDoubleBE(at + 8), lease);
    onKey(key, lease, buf.readDoubleBE(at + 24));
    at += 32;
    valueAt += length;
  }
  if (at !== keysEnd || valueAt !== values.byteLength) throw new Error('key frame has bytes after its keys');
}

/**
 * Reads a key frame of image version 2, calling `onKey` per key with where its value lies in `body`. Throws on
 * a frame that does not add up (the caller turns that into a corrupt-image error).
 */
export function readKeyFrame(
  body: Uint8Array,
  onKey: (
    key: string,
    valueStart: number,
    valueLength: number,
    mod: number,
    create: number,
    lease: number,
    ttlMs: number,
  ) => void,
): void {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (buf.byteLength < 5 || buf[0] !== KEY_FRAME_MARK) throw new Error('not a key frame');
  const count = buf.readUInt32BE(1);
  let at = 5;
  for (let i = 0; i < count; i++) {
    const keyBytes = buf.readUInt32BE(at);
    const key = buf.toString('utf8', at + 4, at + 4 + keyBytes);
    at += 4 + keyBytes;
    const valueLength = buf.readUInt32BE(at);
    const valueStart = at + 4;
    at = valueStart + valueLength;
    if (at + 32 > buf.byteLength) throw new Error('key frame cut short');
    onKey(
      key,
      valueStart,
      valueLength,
      buf.readDoubleBE(at),
      buf.readDoubleBE(at + 8),
      buf.readDoubleBE(at + 16),
      buf.readDoubleBE(at + 24),
    );
    at += 32;
  }
  if (at !== buf.byteLength) throw new Error('key frame has bytes after its keys');
}
