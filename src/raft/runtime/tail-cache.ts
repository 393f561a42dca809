import { type Entry, entrySize } from '../core/index.js';

/**
 * The newest log entries, in memory, up to a byte budget: the leader reads them back for
 * every append it sends, and decoding them from LMDB each time would dominate. Holds a
 * contiguous run `[firstIndex(), firstIndex() + length)`; older entries are read from disk.
 */
export class TailCache {
  private start = 1;
  /** Cached entries are `items[head…]`: dropping from the front moves `head`, not the array. */
  private items: Entry[] = [];
  private head = 0;
  private bytes = 0;
  /** Entries at or after this index are kept whatever the budget (their write is not done). */
  private pinnedFrom = Number.POSITIVE_INFINITY;

  constructor(private readonly maxBytes: number) {}

  /**
   * Keeps entries from `index` on in memory until unpinned (the log reads entries it has not
   * written yet from here). `Infinity` unpins; trimming resumes at the next append.
   */
  pinFrom(index: number): void {
    this.pinnedFrom = index;
    this.trim();
  }

  /** First cached index; equals the next index to be written when the cache is empty. */
  firstIndex(): number {
    return this.start;
  }

  get(index: number): Entry | undefined {
    return index >= this.start ? this.items[this.head + index - this.start] : undefined;
  }

  private get length(): number {
    return this.items.length - this.head;
  }

  /** Appends entries, replacing any cached entry at or after the first one's index. */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0].index;
    const end = this.start + this.length;
    if (first < this.start || first > end) {
      this.reset(first);
    } else if (first < end) {
      for (const dropped of this.items.splice(this.head + first - this.start))
        this.bytes -= entrySize(dropped);
    }
    for (const entry of entries) {
      this.items.push(entry);
      this.bytes += entrySize(entry);
    }
    this.trim();
  }

  /** Forgets entries below `index` (compacted away). */
  dropBefore(index: number): void {
    while (this.length > 0 && this.start < index) this.shift();
    if (this.length === 0 && this.start < index) this.start = index;
  }

  /** Empties the cache; the next entry written will be `nextIndex`. */
  reset(nextIndex: number): void {
    this.start = nextIndex;
    this.items = [];
    this.head = 0;
    this.bytes = 0;
  }

  private trim(): void {
    // Keep at least the newest entry so a lone huge entry still counts as cached.
    while (this.bytes > this.maxBytes && this.length > 1 && this.start < this.pinnedFrom) this.shift();
  }

  /** Drops the oldest entry in O(1) (Array#shift is O(n) on large arrays); compacts now and then. */
  private shift(): void {
    const entry = this.items[this.head];
    this.items[this.head++] = undefined as unknown as Entry;
    this.bytes -= entrySize(entry);
    this.start++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
