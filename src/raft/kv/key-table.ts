/**
 * The stored keys of the replicated key space, packed for a million keys in a few hundred MB:
 * a Map from key to a slot number, the slot's revisions and lease in typed arrays, and every
 * value copied into shared slabs of memory. A value therefore never keeps alive the buffer it
 * arrived in (a network frame, a log entry: ~260 bytes more per 100-byte value), and a key
 * costs one Map entry, its string and ~40 bytes instead of three objects.
 *
 * Values handed out (`value()`) are views into a slab: callers must not write to them (the
 * Store contract hands values out read-only). A slab whose live bytes drop below a quarter is
 * emptied by moving its live values into the current slab; views handed out earlier keep the
 * old slab alive and unchanged, so they stay valid.
 */

const SLAB_BYTES = 1024 * 1024;
/** Values at least this large get a slab of their own (no copying when slabs are emptied). */
const OWN_SLAB_BYTES = 64 * 1024;

export interface KeyRecord {
  value: Uint8Array;
  /** Revision of the last change. */
  mod: number;
  /** Revision that created the key. */
  create: number;
  /** Lease the key is bound to (0: none). */
  lease: number;
}

interface Slab {
  bytes: Uint8Array;
  /** Bytes handed out so far (values are appended). */
  used: number;
  /** Bytes still referenced by a slot. */
  live: number;
  /** Slots written into this slab, as pairs (slot, offset); stale pairs are skipped. */
  slots: number[];
}

export class KeyTable {
  readonly #slots = new Map<string, number>();
  #mod = new Float64Array(1024);
  #create = new Float64Array(1024);
  #lease = new Float64Array(1024);
  #slabOf = new Int32Array(1024);
  #offset = new Uint32Array(1024);
  #length = new Uint32Array(1024);
  #free: number[] = [];
  #nextSlot = 0;
  #slabs: (Slab | null)[] = [];
  #current = -1;

  get size(): number {
    return this.#slots.size;
  }

  has(key: string): boolean {
    return this.#slots.has(key);
  }

  get(key: string): KeyRecord | undefined {
    const slot = this.#slots.get(key);
    if (slot === undefined) return undefined;
    return {
      value: this.#view(slot),
      mod: this.#mod[slot],
      create: this.#create[slot],
      lease: this.#lease[slot],
    };
  }

  /** The key's slot (an internal number, valid until the key is deleted), or undefined. */
  slot(key: string): number | undefined {
    return this.#slots.get(key);
  }

  slotMod(slot: number): number {
    return this.#mod[slot];
  }

  slotCreate(slot: number): number {
    return this.#create[slot];
  }

  slotLease(slot: number): number {
    return this.#lease[slot];
  }

  slotValueLength(slot: number): number {
    return this.#length[slot];
  }

  /** Copies a slot's value into `target` at `at` (no view made). */
  copySlotValue(slot: number, target: Uint8Array, at: number): void {
    const slab = this.#slabs[this.#slabOf[slot]] as Slab;
    const from = this.#offset[slot];
    target.set(slab.bytes.subarray(from, from + this.#length[slot]), at);
  }

  /** Writes a key whose value is `src[start, start + length)` (copied). */
  setFrom(
    key: string,
    src: Uint8Array,
    start: number,
    length: number,
    mod: number,
    create: number,
    lease: number,
  ): void {
    this.set(key, { value: src.subarray(start, start + length), mod, create, lease });
  }

  /** The key's value (a read-only view), or undefined. */
  value(key: string): Uint8Array | undefined {
    const slot = this.#slots.get(key);
    return slot === undefined ? undefined : this.#view(slot);
  }

  mod(key: string): number | undefined {
    const slot = this.#slots.get(key);
    return slot === undefined ? undefined : this.#mod[slot];
  }

  lease(key: string): number {
    const slot = this.#slots.get(key);
    return slot === undefined ? 0 : this.#lease[slot];
  }

  /** Writes a key, copying `value` into a slab. */
  set(key: string, record: KeyRecord): void {
    let slot = this.#slots.get(key);
    if (slot === undefined) {
      slot = this.#allocSlot();
      this.#slots.set(key, slot);
    } else {
      this.#release(slot);
    }
    this.#mod[slot] = record.mod;
    this.#create[slot] = record.create;
    this.#lease[slot] = record.lease;
    this.#store(slot, record.value);
  }

  setLease(key: string, lease: number): void {
    const slot = this.#slots.get(key);
    if (slot !== undefined) this.#lease[slot] = lease;
  }

  delete(key: string): boolean {
    const slot = this.#slots.get(key);
    if (slot === undefined) return false;
    this.#slots.delete(key);
    this.#release(slot);
    this.#free.push(slot);
    return true;
  }

  clear(): void {
    this.#slots.clear();
    this.#free = [];
    this.#nextSlot = 0;
    this.#slabs = [];
    this.#current = -1;
  }

  /** Bytes held by slabs (live values and holes). */
  get slabBytes(): number {
    let total = 0;
    for (const slab of this.#slabs) if (slab) total += slab.bytes.byteLength;
    return total;
  }

  // ---- slots ----

  #allocSlot(): number {
    const reused = this.#free.pop();
    if (reused !== undefined) return reused;
    const slot = this.#nextSlot++;
    if (slot >= this.#mod.length) this.#grow(this.#mod.length * 2);
    return slot;
  }

  #grow(capacity: number): void {
    const grow = <T extends Float64Array | Int32Array | Uint32Array>(old: T, make: (n: number) => T): T => {
      const next = make(capacity);
      next.set(old);
      return next;
    };
    this.#mod = grow(this.#mod, (n) => new Float64Array(n));
    this.#create = grow(this.#create, (n) => new Float64Array(n));
    this.#lease = grow(this.#lease, (n) => new Float64Array(n));
    this.#slabOf = grow(this.#slabOf, (n) => new Int32Array(n));
    this.#offset = grow(this.#offset, (n) => new Uint32Array(n));
    this.#length = grow(this.#length, (n) => new Uint32Array(n));
  }

  // ---- values ----

  #view(slot: number): Uint8Array {
    const slab = this.#slabs[this.#slabOf[slot]] as Slab;
    const at = this.#offset[slot];
    return slab.bytes.subarray(at, at + this.#length[slot]);
  }

  #store(slot: number, value: Uint8Array): void {
    const length = value.byteLength;
    let id: number;
    if (length >= OWN_SLAB_BYTES) {
      id = this.#newSlab(length);
    } else {
      const current = this.#current >= 0 ? this.#slabs[this.#current] : null;
      if (!current || current.used + length > current.bytes.byteLength)
        this.#current = this.#newSlab(SLAB_BYTES);
      id = this.#current;
    }
    const slab = this.#slabs[id] as Slab;
    const at = slab.used;
    slab.bytes.set(value, at);
    slab.used += length;
    slab.live += length;
    slab.slots.push(slot, at);
    this.#slabOf[slot] = id;
    this.#offset[slot] = at;
    this.#length[slot] = length;
  }

  #newSlab(size: number): number {
    const slab: Slab = { bytes: new Uint8Array(size), used: 0, live: 0, slots: [] };
    // Reuse the id of an emptied slab so the list does not grow without bound.
    const id = this.#slabs.indexOf(null);
    if (id >= 0) {
      this.#slabs[id] = slab;
      return id;
    }
    this.#slabs.push(slab);
    return this.#slabs.length - 1;
  }

  /** The slot's value is no longer needed; empties its slab when that is mostly holes. */
  #release(slot: number): void {
    const id = this.#slabOf[slot];
    const slab = this.#slabs[id] as Slab;
    slab.live -= this.#length[slot];
    this.#slabOf[slot] = -1;
    if (id === this.#current) return;
    if (slab.live === 0) this.#slabs[id] = null;
    else if (slab.live * 4 < slab.used && slab.used >= SLAB_BYTES / 2) this.#empty(id);
  }

  /** Moves a sparse slab's live values into the current slab (at most a quarter slab of copying). */
  #empty(id: number): void {
    const slab = this.#slabs[id] as Slab;
    const pairs = slab.slots;
    for (let i = 0; i < pairs.length; i += 2) {
      const slot = pairs[i];
      const at = pairs[i + 1];
      if (this.#slabOf[slot] !== id || this.#offset[slot] !== at) continue;
      this.#store(slot, slab.bytes.subarray(at, at + this.#length[slot]));
    }
    // Only now: a new slab made while moving must not take this id (stale pairs would match it).
    this.#slabs[id] = null;
  }
}
