import type { Entry } from './types.js';

/** Fixed per-entry overhead counted by size limits (term, index, type, framing). */
const ENTRY_OVERHEAD_BYTES = 24;

/** The size an entry counts for in `maxSizePerMsg`, `maxCommittedSizePerReady` and storage limits. */
export function entrySize(entry: Entry): number {
  return entry.data.byteLength + ENTRY_OVERHEAD_BYTES;
}

/**
 * The longest prefix of `entries` whose total size is at most `maxBytes`, but never empty
 * when `entries` is not (a single oversized entry must still make progress).
 */
export function limitSize(entries: Entry[], maxBytes: number): Entry[] {
  if (entries.length === 0) return entries;
  let total = entrySize(entries[0]);
  let n = 1;
  while (n < entries.length) {
    total += entrySize(entries[n]);
    if (total > maxBytes) break;
    n++;
  }
  return n === entries.length ? entries : entries.slice(0, n);
}
