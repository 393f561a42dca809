/**
 * Where each log entry lies on disk (segment, offset, record length) and its term, for a
 * contiguous run of indexes: typed arrays, ~24 bytes an entry, so term() needs no disk read
 * and an entry outside the tail cache costs one read.
 */
export class EntryPositions {
  #base = 1;
  #head = 0;
  #count = 0;
  #seq = new Uint32Array(1024);
  #offset = new Uint32Array(1024);
  #length = new Uint32Array(1024);
  #term = new Float64Array(1024);

  /** Index of the first entry held (when empty: the next index to be pushed). */
  get first(): number {
    return this.#base;
  }

  /** Index of the last entry held (`first - 1` when empty). */
  get last(): number {
    return this.#base + this.#count - 1;
  }

  has(index: number): boolean {
    return index >= this.#base && index < this.#base + this.#count;
  }

  seq(index: number): number {
    return this.#seq[this.#slot(index)];
  }

  offset(index: number): number {
    return this.#offset[this.#slot(index)];
  }

  length(index: number): number {
    return this.#length[this.#slot(index)];
  }

  term(index: number): number {
    return this.#term[this.#slot(index)];
  }

  /** Appends the position of entry `last + 1`. */
  push(seq: number, offset: number, length: number, term: number): void {
    if (this.#head + this.#count === this.#seq.length) this.#make(Math.max(1024, this.#count * 2));
    const at = this.#head + this.#count;
    this.#seq[at] = seq;
    this.#offset[at] = offset;
    this.#length[at] = length;
    this.#term[at] = term;
    this.#count++;
  }

  /** Forgets entries at or after `index`. */
  truncateFrom(index: number): void {
    this.#count = Math.max(0, Math.min(this.#count, index - this.#base));
  }

  /** Forgets entries before `index` (compaction). */
  dropBefore(index: number): void {
    const drop = Math.min(this.#count, Math.max(0, index - this.#base));
    this.#head += drop;
    this.#count -= drop;
    this.#base = Math.max(this.#base + drop, index);
    if (this.#count === 0) this.#head = 0;
  }

  /** Empties the run; the next entry pushed is `nextIndex`. */
  reset(nextIndex: number): void {
    this.#base = nextIndex;
    this.#head = 0;
    this.#count = 0;
  }

  #slot(index: number): number {
    return this.#head + index - this.#base;
  }

  /** Moves the live run to the front of arrays of `capacity` (growing or reclaiming the head). */
  #make(capacity: number): void {
    const move = <T extends Uint32Array | Float64Array>(old: T, next: T): T => {
      next.set(old.subarray(this.#head, this.#head + this.#count));
      return next;
    };
    this.#seq = move(this.#seq, new Uint32Array(capacity));
    this.#offset = move(this.#offset, new Uint32Array(capacity));
    this.#length = move(this.#length, new Uint32Array(capacity));
    this.#term = move(this.#term, new Float64Array(capacity));
    this.#head = 0;
  }
}
