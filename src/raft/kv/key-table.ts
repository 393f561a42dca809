import { SlotMap } from './slot-map.js';

/**
 * The stored keys of the replicated key space, packed for a million keys in a couple of
 * hundred MB and with no pause as it grows: each key has a slot (`SlotMap`: key → slot, in
 * typed arrays, growing a small shard at a time); a slot's revisions, lease and where its
 * value lies are columns of fixed-size pages of typed arrays (a new page when full, nothing
 * ever copied to grow); every value is copied into shared slabs of memory. A value therefore
 * never keeps alive the buffer it arrived in (a network frame, a log entry: ~260 bytes more
 * per 100-byte value), and a key costs its string and ~80 bytes, with no object per key.
 *
 * Values handed out (`value()`) are views into a slab: callers must not write to them (the
 * Store contract hands values out read-only). A slab whose live bytes drop below a quarter is
 * emptied by moving its live values into the current slab; views handed out earlier keep the
 * old slab alive and unchanged, so they stay valid. Each value in a slab is preceded by its
 * slot and length (8 bytes), so emptying a slab needs no list of what it holds.
 */

const SLAB_BYTES = 1024 * 1024;
/** Values at least this large get a slab of their own (no copying when slabs are emptied). */
const OWN_SLAB_BYTES = 64 * 1024;
/** Bytes before each value in a slab: u32 slot, u32 length (little-endian). */
export const VALUE_HEADER = 8;
/** Values up to this size are copied byte by byte (cheaper than making a view to copy from). */
const SMALL_COPY = 16;
const PAGE_BITS = 14;
const PAGE_SLOTS = 1 << PAGE_BITS;
const PAGE_MASK = PAGE_SLOTS - 1;

export interface KeyRecord {
  value: Uint8Array;
  /** Revision of the last change. */
  mod: number;
  /** Revision that created the key. */
  create: number;
  /** Lease the key is bound to (0: none). */
  lease: number;
}

/** The columns of PAGE_SLOTS slots. */
interface Page {
  /** Per slot: revision of the last change, creation revision, lease. */
  revs: Float64Array;
  /** Per slot: slab id (-1: none), offset of the value in it, value length. */
  where: Int32Array;
}

interface Slab {
  bytes: Uint8Array;
  /** Bytes handed out so far (headers and values are appended). */
  used: number;
  /** Bytes (headers included) still referenced by a slot. */
  live: number;
}

export class KeyTable {
  readonly #slots = new SlotMap();
  #pages: Page[] = [];
  #free: number[] = [];
  #nextSlot = 0;
  #slabs: (Slab | null)[] = [];
  /** Ids of emptied slabs, for reuse (the list does not grow without bound). */
  #freeSlabIds: number[] = [];
  #current = -1;

  get size(): number {
    return this.#slots.size;
  }

  /** The most keys one insert had to re-place in the key → slot tables (see SlotMap). */
  get largestRebuild(): number {
    return this.#slots.largestRebuild;
  }

  /** Makes room for `n` keys (restoring an image of known size: no table rebuild until then). */
  reserve(n: number): void {
    this.#slots.reserve(n);
  }

  has(key: string): boolean {
    return this.#slots.get(key) >= 0;
  }

  get(key: string): KeyRecord | undefined {
    const slot = this.#slots.get(key);
    if (slot < 0) return undefined;
    const revs = this.#page(slot).revs;
    const i = 3 * (slot & PAGE_MASK);
    return { value: this.#view(slot), mod: revs[i], create: revs[i + 1], lease: revs[i + 2] };
  }

  /** The key's slot (an internal number, valid until the key is deleted), or undefined. */
  slot(key: string): number | undefined {
    const slot = this.#slots.get(key);
    return slot < 0 ? undefined : slot;
  }

  slotMod(slot: number): number {
    return this.#page(slot).revs[3 * (slot & PAGE_MASK)];
  }

  slotCreate(slot: number): number {
    return this.#page(slot).revs[3 * (slot & PAGE_MASK) + 1];
  }

  slotLease(slot: number): number {
    return this.#page(slot).revs[3 * (slot & PAGE_MASK) + 2];
  }

  slotValueLength(slot: number): number {
    return this.#page(slot).where[3 * (slot & PAGE_MASK) + 2];
  }

  /** Copies a slot's value into `target` at `at` (no view made). */
  copySlotValue(slot: number, target: Uint8Array, at: number): void {
    const where = this.#page(slot).where;
    const i = 3 * (slot & PAGE_MASK);
    const bytes = (this.#slabs[where[i]] as Slab).bytes;
    copyBytes(bytes, where[i + 1], where[i + 2], target, at);
  }

  /** Writes a key whose value is `src[start, start + length)` (copied; no view of `src` made). */
  setFrom(
    key: string,
    src: Uint8Array,
    start: number,
    length: number,
    mod: number,
    create: number,
    lease: number,
  ): void {
    const slot = this.#slotFor(key);
    const revs = this.#page(slot).revs;
    const i = 3 * (slot & PAGE_MASK);
    revs[i] = mod;
    revs[i + 1] = create;
    revs[i + 2] = lease;
    this.#store(slot, src, start, length);
  }

  /**
   * Restoring an image: takes a copy of `bytes`, laid out as this table's slabs are (per value
   * u32 slot, u32 length, the value; see key-frames.ts), as a slab of its own; returns its id
   * for `appendRestored`.
   */
  adoptSlab(bytes: Uint8Array): number {
    const id = this.#newSlab(bytes.byteLength);
    const slab = this.#slabs[id] as Slab;
    slab.bytes.set(bytes);
    slab.used = bytes.byteLength;
    return id;
  }

  /**
   * Restoring an image: a key not held, in the next slot (keys restored into an empty table
   * take slots 0, 1, 2, … in order), its value `length` bytes at `at` in adopted slab `slab`,
   * whose header before `at` names this slot.
   */
  appendRestored(
    key: string,
    slab: number,
    at: number,
    length: number,
    mod: number,
    create: number,
    lease: number,
  ): void {
    const slot = this.#nextSlot;
    const bytes = (this.#slabs[slab] as Slab).bytes;
    if (this.#free.length > 0 || readU32(bytes, at - VALUE_HEADER) !== slot) {
      throw new Error(`restored value of ${key} is not numbered ${slot}`);
    }
    this.#slots.add(key, slot);
    this.#nextSlot++;
    if (slot >>> PAGE_BITS === this.#pages.length) this.#addPage();
    const page = this.#page(slot);
    const i = 3 * (slot & PAGE_MASK);
    page.revs[i] = mod;
    page.revs[i + 1] = create;
    page.revs[i + 2] = lease;
    page.where[i] = slab;
    page.where[i + 1] = at;
    page.where[i + 2] = length;
    (this.#slabs[slab] as Slab).live += VALUE_HEADER + length;
  }

  /** The key's value (a read-only view), or undefined. */
  value(key: string): Uint8Array | undefined {
    const slot = this.#slots.get(key);
    return slot < 0 ? undefined : this.#view(slot);
  }

  mod(key: string): number | undefined {
    const slot = this.#slots.get(key);
    return slot < 0 ? undefined : this.slotMod(slot);
  }

  lease(key: string): number {
    const slot = this.#slots.get(key);
    return slot < 0 ? 0 : this.slotLease(slot);
  }

  /** Writes a key, copying `value` into a slab. */
  set(key: string, record: KeyRecord): void {
    const { value } = record;
    this.setFrom(key, value, 0, value.byteLength, record.mod, record.create, record.lease);
  }

  setLease(key: string, lease: number): void {
    const slot = this.#slots.get(key);
    if (slot >= 0) this.#page(slot).revs[3 * (slot & PAGE_MASK) + 2] = lease;
  }

  delete(key: string): boolean {
    const slot = this.#slots.delete(key);
    if (slot < 0) return false;
    this.#release(slot);
    this.#free.push(slot);
    return true;
  }

  clear(): void {
    this.#slots.clear();
    this.#pages = [];
    this.#free = [];
    this.#nextSlot = 0;
    this.#slabs = [];
    this.#freeSlabIds = [];
    this.#current = -1;
  }

  /** Bytes held by slabs (live values, their headers and holes). */
  get slabBytes(): number {
    let total = 0;
    for (const slab of this.#slabs) if (slab) total += slab.bytes.byteLength;
    return total;
  }

  // ---- slots ----

  #page(slot: number): Page {
    return this.#pages[slot >>> PAGE_BITS];
  }

  /** The key's slot, its old value released; or a new slot for it. */
  #slotFor(key: string): number {
    // One probe: the slot a new key would take is offered, and taken only if the key is new.
    const free = this.#free.length;
    const offered = free > 0 ? this.#free[free - 1] : this.#nextSlot;
    const held = this.#slots.getOrAdd(key, offered);
    if (held >= 0) {
      this.#release(held);
      return held;
    }
    if (free > 0) {
      this.#free.pop();
    } else {
      this.#nextSlot++;
      if (offered >>> PAGE_BITS === this.#pages.length) this.#addPage();
    }
    return offered;
  }

  #addPage(): void {
    this.#pages.push({ revs: new Float64Array(3 * PAGE_SLOTS), where: new Int32Array(3 * PAGE_SLOTS) });
  }

  // ---- values ----

  #view(slot: number): Uint8Array {
    const where = this.#page(slot).where;
    const i = 3 * (slot & PAGE_MASK);
    const at = where[i + 1];
    return (this.#slabs[where[i]] as Slab).bytes.subarray(at, at + where[i + 2]);
  }

  /** Copies `src[start, start + length)` into a slab as `slot`'s value. */
  #store(slot: number, src: Uint8Array, start: number, length: number): void {
    const need = VALUE_HEADER + length;
    let id: number;
    if (length >= OWN_SLAB_BYTES) {
      id = this.#newSlab(need);
    } else {
      const current = this.#current >= 0 ? this.#slabs[this.#current] : null;
      if (!current || current.used + need > current.bytes.byteLength)
        this.#current = this.#newSlab(SLAB_BYTES);
      id = this.#current;
    }
    const slab = this.#slabs[id] as Slab;
    const bytes = slab.bytes;
    const head = slab.used;
    writeU32(bytes, head, slot);
    writeU32(bytes, head + 4, length);
    copyBytes(src, start, length, bytes, head + VALUE_HEADER);
    slab.used += need;
    slab.live += need;
    const where = this.#page(slot).where;
    const i = 3 * (slot & PAGE_MASK);
    where[i] = id;
    where[i + 1] = head + VALUE_HEADER;
    where[i + 2] = length;
  }

  #newSlab(size: number): number {
    const slab: Slab = { bytes: new Uint8Array(size), used: 0, live: 0 };
    const id = this.#freeSlabIds.pop();
    if (id !== undefined) {
      this.#slabs[id] = slab;
      return id;
    }
    this.#slabs.push(slab);
    return this.#slabs.length - 1;
  }

  /** The slot's value is no longer needed; empties its slab when that is mostly holes. */
  #release(slot: number): void {
    const where = this.#page(slot).where;
    const i = 3 * (slot & PAGE_MASK);
    const id = where[i];
    const slab = this.#slabs[id] as Slab;
    slab.live -= VALUE_HEADER + where[i + 2];
    where[i] = -1;
    if (id === this.#current) return;
    if (slab.live === 0) this.#dropSlab(id);
    // (Slabs adopted from an image hold a frame's values, ~400 KiB: they are emptied too.)
    else if (slab.live * 4 < slab.used && slab.used >= OWN_SLAB_BYTES) this.#empty(id);
  }

  #dropSlab(id: number): void {
    this.#slabs[id] = null;
    this.#freeSlabIds.push(id);
  }

  /** Moves a sparse slab's live values into the current slab (at most a quarter slab of copying). */
  #empty(id: number): void {
    const slab = this.#slabs[id] as Slab;
    const bytes = slab.bytes;
    for (let head = 0; head < slab.used; ) {
      const slot = readU32(bytes, head);
      const length = readU32(bytes, head + 4);
      const at = head + VALUE_HEADER;
      head = at + length;
      const where = this.#page(slot).where;
      const i = 3 * (slot & PAGE_MASK);
      // A stale copy: the slot was rewritten (elsewhere or later in this slab) or deleted.
      if (where[i] !== id || where[i + 1] !== at) continue;
      this.#store(slot, bytes, at, length);
    }
    // Only now: a new slab made while moving must not take this id (stale headers would match it).
    this.#dropSlab(id);
  }
}

function copyBytes(src: Uint8Array, from: number, length: number, target: Uint8Array, at: number): void {
  if (length <= SMALL_COPY) {
    for (let k = 0; k < length; k++) target[at + k] = src[from + k];
  } else {
    // A plain Uint8Array view: a Buffer's subarray would build a Buffer (measured 2× slower at 100 bytes).
    target.set(new Uint8Array(src.buffer, src.byteOffset + from, length), at);
  }
}

function writeU32(bytes: Uint8Array, at: number, n: number): void {
  bytes[at] = n;
  bytes[at + 1] = n >>> 8;
  bytes[at + 2] = n >>> 16;
  bytes[at + 3] = n >>> 24;
}

function readU32(bytes: Uint8Array, at: number): number {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
}
