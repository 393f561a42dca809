import { fmix32 } from '../../hashing/fmix32.js';
import { MAX_BUCKETS } from './streams.js';

/**
 * One record as a node holds it: one owner's latest version of a (table, key) in one
 * network. Each owner writes only its own records, so a record has a single writer and a
 * delete can only be overtaken by its owner's later write; where several owners hold the
 * same key, the newest visible version is shown (ties broken by owner name).
 */
export interface StoredRecord {
  table: string;
  key: string;
  owner: string;
  ltime: number;
  deleted: boolean;
  value: Uint8Array | null;
  /** Tombstones: when the reaper drops it (core clock). */
  reapAt: number;
  /** Hash of (table, key): picks the digest bucket. */
  keyHash: number;
  /** Hash of the version and its content: summed per bucket. */
  versionHash: number;
}

/** Versions order by Lamport time, ties broken by owner name (NetworkDB breaks none: moby#47728). */
export function newerThan(ltime: number, owner: string, than: { ltime: number; owner: string }): boolean {
  return ltime > than.ltime || (ltime === than.ltime && owner > than.owner);
}

export function keyId(table: string, key: string): string {
  return `${table}\u0000${key}`;
}

export function recordId(table: string, key: string, owner: string): string {
  return `${table}\u0000${key}\u0000${owner}`;
}

/** FNV-1a over strings and numbers (not cryptographic: digests only need to differ when versions do). */
function fnv(h: number, text: string): number {
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= 0xff;
  return Math.imul(h, 0x01000193);
}

export function keyHashOf(table: string, key: string): number {
  return fnv(fnv(0x811c9dc5, table), key) >>> 0;
}

/** Hash of a version: (table, key, owner, ltime) and its content (null: a tombstone). */
export function versionHashOf(
  table: string,
  key: string,
  owner: string,
  ltime: number,
  value: Uint8Array | null,
): number {
  let h = fnv(fnv(fnv(0x811c9dc5, table), key), owner);
  h = fnv(h, String(ltime));
  if (value === null) h ^= 0x100;
  else for (let i = 0; i < value.byteLength; i++) h = Math.imul(h ^ value[i], 0x01000193);
  h = Math.imul(h, 0x01000193);
  // Final avalanche so the per-bucket sums mix well.
  return fmix32(h);
}

/** Digest size for a table of `count` records: about 32 records per bucket, a power of two. */
export function bucketCountFor(count: number): number {
  let b = 1;
  while (b * 32 < count && b < MAX_BUCKETS) b *= 2;
  return b;
}

/** The records of one network, every table, and which record each key currently shows. */
export class TableStore {
  readonly records = new Map<string, StoredRecord>();
  private readonly byKey = new Map<string, StoredRecord[]>();
  /** The record each key shows (the newest visible one); kept by the core as visibility changes. */
  readonly shown = new Map<string, StoredRecord>();

  get size(): number {
    return this.records.size;
  }

  get(table: string, key: string, owner: string): StoredRecord | undefined {
    return this.records.get(recordId(table, key, owner));
  }

  /** Every owner's record of a key. */
  recordsOf(table: string, key: string): readonly StoredRecord[] {
    return this.byKey.get(keyId(table, key)) ?? [];
  }

  put(rec: StoredRecord): void {
    const id = recordId(rec.table, rec.key, rec.owner);
    const old = this.records.get(id);
    this.records.set(id, rec);
    const kid = keyId(rec.table, rec.key);
    const list = this.byKey.get(kid);
    if (!list) this.byKey.set(kid, [rec]);
    else if (old) list[list.indexOf(old)] = rec;
    else list.push(rec);
  }

  delete(rec: StoredRecord): void {
    const id = recordId(rec.table, rec.key, rec.owner);
    if (this.records.get(id) !== rec) return;
    this.records.delete(id);
    const kid = keyId(rec.table, rec.key);
    const list = this.byKey.get(kid) as StoredRecord[];
    list.splice(list.indexOf(rec), 1);
    if (list.length === 0) this.byKey.delete(kid);
  }

  /** Per-bucket sums of version hashes (the digest a sync sends instead of the table). */
  digest(bucketCount: number): Uint32Array {
    const hashes = new Uint32Array(bucketCount);
    const mask = bucketCount - 1;
    for (const rec of this.records.values()) {
      const b = rec.keyHash & mask;
      hashes[b] = (hashes[b] + rec.versionHash) >>> 0;
    }
    return hashes;
  }

  /** Records grouped by bucket, for the buckets in `wanted`. */
  byBucket(bucketCount: number, wanted: Set<number>): Map<number, StoredRecord[]> {
    const out = new Map<number, StoredRecord[]>();
    const mask = bucketCount - 1;
    for (const rec of this.records.values()) {
      const b = rec.keyHash & mask;
      if (!wanted.has(b)) continue;
      let list = out.get(b);
      if (!list) out.set(b, (list = []));
      list.push(rec);
    }
    return out;
  }
}
