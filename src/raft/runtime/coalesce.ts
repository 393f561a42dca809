import { type Entry, entrySize, type Message } from '../core/index.js';

/**
 * Merges a Ready's messages to the same peer where one message says everything the two
 * did, so a burst of proposals costs one append (and one acknowledgement) per follower
 * instead of one per proposal. Only a message and the previous one to the same peer merge
 * (never across another message to that peer), and only when the receiver would end in
 * the same state:
 * - two appends of one term where the second continues exactly where the first ends → one
 *   append with both runs of entries (up to `maxBytes`), the later commit index;
 * - two heartbeats of one term → the later commit and the later read round (acknowledging a
 *   round confirms every earlier one);
 * - two accepted append acknowledgements of one term → the higher index;
 * - two heartbeat answers of one term → the later read round.
 * Rejections, votes, snapshot chunks and everything else pass unchanged.
 */
export function coalesceMessages(messages: Message[], maxBytes: number): Message[] {
  if (messages.length < 2) return messages;
  const out: Message[] = [];
  const lastTo = new Map<string, number>();
  /** Appends built here (their entry arrays are ours to extend) and their sizes. */
  const built = new Map<Message, number>();
  for (const m of messages) {
    const at = lastTo.get(m.to);
    const merged = at === undefined ? null : merge(out[at], m, maxBytes, built);
    if (merged !== null && at !== undefined) {
      out[at] = merged;
    } else {
      lastTo.set(m.to, out.length);
      out.push(m);
    }
  }
  return out;
}

function merge(a: Message, b: Message, maxBytes: number, built: Map<Message, number>): Message | null {
  if (a.term !== b.term || a.from !== b.from) return null;
  if (a.type === 'app' && b.type === 'app') {
    const endIndex = a.prevIndex + a.entries.length;
    const endTerm = a.entries.length === 0 ? a.prevTerm : a.entries[a.entries.length - 1].term;
    if (b.prevIndex !== endIndex || b.prevTerm !== endTerm) return null;
    let bytes = built.get(a) ?? sizeOf(a.entries);
    const added = sizeOf(b.entries);
    if (a.entries.length > 0 && b.entries.length > 0 && bytes + added > maxBytes) return null;
    bytes += added;
    // Extend an append built here in place (no quadratic copying for long bursts).
    const merged = built.has(a) ? a : { ...a, entries: a.entries.slice() };
    for (const e of b.entries) merged.entries.push(e);
    merged.commit = Math.max(a.commit, b.commit);
    built.set(merged, bytes);
    return merged;
  }
  if (a.type === 'heartbeat' && b.type === 'heartbeat') {
    return {
      ...b,
      commit: Math.max(a.commit, b.commit),
      readContext: Math.max(a.readContext, b.readContext),
    };
  }
  if (a.type === 'appResp' && b.type === 'appResp' && !a.reject && !b.reject) {
    return a.index >= b.index ? a : b;
  }
  if (a.type === 'heartbeatResp' && b.type === 'heartbeatResp') {
    return { ...b, readContext: Math.max(a.readContext, b.readContext) };
  }
  return null;
}

function sizeOf(entries: Entry[]): number {
  let bytes = 0;
  for (const e of entries) bytes += entrySize(e);
  return bytes;
}
