/**
 * The memo of the linearizability search: configurations already explored, each being
 * (set of completed ops linearized, set of pending ops applied, register state).
 *
 * A configuration is skipped when an explored one has the same completed set and state and applied
 * a subset of its pending ops: the explored one could do everything this one can (the pending ops it
 * did not apply may still be applied later, or never). With no pending ops this is the exact-match
 * cache of Lowe's and porcupine's algorithm.
 *
 * A configuration reached by applying a pending op is restricted: its next op must observe that op's
 * effect (see register-search.ts), which depends on the state before it. It covers only
 * configurations restricted the same way; an unrestricted one covers both kinds.
 *
 * The completed set is stored compactly: ops are numbered in call order and linearized roughly in
 * that order, so the set is a run of full words, a few mixed words, then zeros. Only the mixed words
 * [lo, hi] are kept, in one flat arena: a failing search can visit millions of configurations.
 */

/** A completed set as the search maintains it: `words[i]` is all ones for i < lo and zero for i > hi. */
export interface CompletedSet {
  words: Uint32Array;
  lo: number;
  hi: number;
}

export class ConfigCache {
  private readonly chainHeads = new Map<number, number>();
  private size = 0;
  private capacity = 1024;
  private arena = new Uint32Array(4096);
  private arenaUsed = 0;
  private offset = new Int32Array(this.capacity);
  private lo = new Int32Array(this.capacity);
  private length = new Int32Array(this.capacity);
  private pendingBits: Uint32Array;
  private states = new Int32Array(this.capacity);
  /** -1: unrestricted; otherwise the state before the pending op that restricts it. */
  private restrictedBy = new Int32Array(this.capacity);
  private chain = new Int32Array(this.capacity);

  constructor(private readonly pendingWords: number) {
    this.pendingBits = new Uint32Array(this.capacity * pendingWords);
  }

  /**
   * True when the configuration is covered by one already explored; otherwise records it and returns
   * false. `hash` must depend only on the completed set and `state`, never on `pendingBits` or
   * `restrictedBy`.
   */
  visit(
    hash: number,
    completed: CompletedSet,
    pendingBits: Uint32Array,
    state: number,
    restrictedBy: number,
  ): boolean {
    const head = this.chainHeads.get(hash);
    const length = Math.max(0, completed.hi - completed.lo + 1);
    for (let e = head ?? -1; e >= 0; e = this.chain[e]) {
      if (
        this.states[e] === state &&
        (this.restrictedBy[e] === -1 || this.restrictedBy[e] === restrictedBy) &&
        this.lo[e] === completed.lo &&
        this.length[e] === length &&
        this.sameWords(e, completed) &&
        this.pendingSubset(e, pendingBits)
      ) {
        return true;
      }
    }
    if (this.size === this.capacity) this.grow();
    if (this.arenaUsed + length > this.arena.length) this.growArena(length);
    const e = this.size++;
    this.offset[e] = this.arenaUsed;
    this.lo[e] = completed.lo;
    this.length[e] = length;
    this.arena.set(completed.words.subarray(completed.lo, completed.lo + length), this.arenaUsed);
    this.arenaUsed += length;
    if (this.pendingWords > 0) this.pendingBits.set(pendingBits, e * this.pendingWords);
    this.states[e] = state;
    this.restrictedBy[e] = restrictedBy;
    this.chain[e] = head ?? -1;
    this.chainHeads.set(hash, e);
    return false;
  }

  private sameWords(e: number, completed: CompletedSet): boolean {
    const base = this.offset[e];
    const { words, lo } = completed;
    for (let w = 0; w < this.length[e]; w++) if (this.arena[base + w] !== words[lo + w]) return false;
    return true;
  }

  /** Whether entry e's pending set is a subset of `pendingBits`. */
  private pendingSubset(e: number, pendingBits: Uint32Array): boolean {
    const base = e * this.pendingWords;
    for (let w = 0; w < this.pendingWords; w++) {
      if ((this.pendingBits[base + w] & ~pendingBits[w]) !== 0) return false;
    }
    return true;
  }

  private growArena(atLeast: number): void {
    const arena = new Uint32Array(Math.max(this.arena.length * 2, this.arenaUsed + atLeast));
    arena.set(this.arena.subarray(0, this.arenaUsed));
    this.arena = arena;
  }

  private grow(): void {
    this.capacity *= 2;
    const widen = <T extends Int32Array | Uint32Array>(old: T, make: (n: number) => T, perEntry = 1): T => {
      const wider = make(this.capacity * perEntry);
      wider.set(old);
      return wider;
    };
    this.offset = widen(this.offset, (n) => new Int32Array(n));
    this.lo = widen(this.lo, (n) => new Int32Array(n));
    this.length = widen(this.length, (n) => new Int32Array(n));
    this.states = widen(this.states, (n) => new Int32Array(n));
    this.restrictedBy = widen(this.restrictedBy, (n) => new Int32Array(n));
    this.chain = widen(this.chain, (n) => new Int32Array(n));
    this.pendingBits = widen(this.pendingBits, (n) => new Uint32Array(n), this.pendingWords);
  }
}
