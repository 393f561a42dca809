import { type Entry, entrySize } from '../core/index.js';

/**
 * The newest log entries, in memory, up to a byte budget: the leader reads them back for
 * every append it sends, and decoding them from LMDB each time would dominate. Holds a
 * contiguous run `[firstIndex(), firstIndex() + length)`; older entries are read from disk.
 */
export class TailCache {
  private start = 1;
  private items: Entry[] = [];
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** First cached index; equals the next index to be written when the cache is empty. */
  firstIndex(): number {
    return this.start;
  }

  get(index: number): Entry | undefined {
    return index >= this.start ? this.items[index - this.start] : undefined;
  }

  /** Appends entries, replacing any cached entry at or after the first one's index. */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0].index;
    const end = this.start + this.items.length;
    if (first < this.start || first > end) {
      this.reset(first);
    } else if (first < end) {
      for (const dropped of this.items.splice(first - this.start)) this.bytes -= entrySize(dropped);
    }
    for (const entry of entries) {
      this.items.push(entry);
      this.bytes += entrySize(entry);
    }
    this.trim();
  }

  /** Forgets entries below `index` (compacted away). */
  dropBefore(index: number): void {
    while (this.items.length > 0 && this.start < index) this.shift();
    if (this.items.length === 0 && this.start < index) this.start = index;
  }

  /** Empties the cache; the next entry written will be `nextIndex`. */
  reset(nextIndex: number): void {
    this.start = nextIndex;
    this.items = [];
    this.bytes = 0;
  }

  private trim(): void {
    // Keep at least the newest entry so a lone huge entry still counts as cached.
    while (this.bytes > this.maxBytes && this.items.length > 1) this.shift();
  }

  private shift(): void {
    const entry = this.items.shift() as Entry;
    this.bytes -= entrySize(entry);
    this.start++;
  }
}
