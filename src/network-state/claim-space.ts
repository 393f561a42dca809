import { isKVError } from '../store/errors.js';
import type { KVPair, Store } from '../store/types.js';
import { json } from '../store/values.js';
import { BitSequence } from './bit-sequence.js';
import { DELETE, isConflict, UNCHANGED, updateRecord } from './cas.js';
import { type Offset, parseOffset, toBig, toOffset } from './offset.js';

/** Offsets per chunk record: a /16 is 64 records, a /24 one; a chunk stays ~30 KB when full. */
export const CHUNK_BITS = 1024;

/** One claimed offset and who holds it. */
export interface Claim {
  offset: Offset;
  /** `t:<task>` task, `v:<service>` VIP, `g:`/`a:<network>` gateway/aux, `n:<network>` VNI, `x:...` an IPAM caller. */
  owner: string;
}

/** Stored form of a chunk: [offset within the chunk, owner] sorted by offset. */
interface ChunkRecord {
  e: [number, string][];
}

interface LoadedChunk {
  pair: KVPair | null;
  owners: Map<number, string>;
}

/** Result of committing a batch of claims: what is now held, what lost a race, what failed. */
export interface CommitResult {
  committed: Claim[];
  /** Another writer changed the chunk (or took the offset): re-plan from a fresh load. */
  conflicted: Claim[];
  /** Chunks that failed for another reason (store down...): nothing of these was claimed. */
  failed: { claims: Claim[]; error: unknown }[];
}

/**
 * An owner-tagged occupancy map on the store: the claims of one pool (or of the VXLAN IDs),
 * split into chunk records of CHUNK_BITS offsets. A claim records its owner in the same record,
 * in the same compare-and-swap that takes the offset, so:
 *  - two writers never both get an offset (the chunk's CAS decides);
 *  - a release removes an offset only if it is still held by the releasing owner, so a late or
 *    repeated release can never free somebody else's address;
 *  - reconciliation can tell, for every claim, which object it belongs to.
 * A batch touching many offsets costs one write per chunk, not one per offset.
 */
export class ClaimSpace {
  readonly #store: Store;
  readonly dir: string;
  readonly size: Offset;

  constructor(store: Store, dir: string, size: Offset) {
    this.#store = store;
    this.dir = dir;
    this.size = size;
  }

  get chunksDir(): string {
    return `${this.dir}/chunks`;
  }

  get cursorKey(): string {
    return `${this.dir}/cursor`;
  }

  chunkKey(index: Offset): string {
    return `${this.chunksDir}/${String(index)}`;
  }

  /** Reads every chunk (one list) into a snapshot with its occupancy map. */
  async load(): Promise<ClaimSnapshot> {
    const snapshot = new ClaimSnapshot(this.size);
    for (const pair of await this.#store.list(this.chunksDir)) {
      const index = parseOffset(pair.key.slice(pair.key.lastIndexOf('/') + 1));
      if (index === null) continue;
      snapshot.addChunk(index, pair, decodeChunk(pair));
    }
    return snapshot;
  }

  /** Reads the chunk holding `offset` only (for single-offset requests). */
  async loadChunkOf(
    offset: Offset,
  ): Promise<{ index: Offset; pair: KVPair | null; owners: Map<number, string> }> {
    const { index } = locate(offset);
    try {
      const pair = await this.#store.get(this.chunkKey(index));
      return { index, pair, owners: decodeChunk(pair) };
    } catch (err) {
      if (isKVError(err, 'KEY_NOT_FOUND')) return { index, pair: null, owners: new Map() };
      throw err;
    }
  }

  /** A snapshot holding just one loaded chunk (enough to claim or inspect offsets inside it). */
  snapshotOfChunk(chunk: { index: Offset; pair: KVPair | null; owners: Map<number, string> }): ClaimSnapshot {
    const snapshot = new ClaimSnapshot(this.size);
    snapshot.addChunk(chunk.index, chunk.pair, chunk.owners);
    return snapshot;
  }

  /**
   * Writes `claims` (planned against `snapshot`) with one compare-and-swap per chunk, all chunks
   * at once. Chunks that changed since the snapshot are reported as conflicted and nothing of
   * them is claimed; the snapshot is updated with what was committed.
   */
  async commit(snapshot: ClaimSnapshot, claims: Claim[]): Promise<CommitResult> {
    const byChunk = new Map<string, { index: Offset; claims: Claim[] }>();
    for (const claim of claims) {
      const { index } = locate(claim.offset);
      const key = String(index);
      let group = byChunk.get(key);
      if (!group) byChunk.set(key, (group = { index, claims: [] }));
      group.claims.push(claim);
    }
    const result: CommitResult = { committed: [], conflicted: [], failed: [] };
    await Promise.all(
      [...byChunk.values()].map(async ({ index, claims: group }) => {
        const chunk = snapshot.chunk(index);
        const owners = new Map(chunk.owners);
        for (const claim of group) {
          const within = locate(claim.offset).within;
          const holder = owners.get(within);
          if (holder !== undefined && holder !== claim.owner) {
            result.conflicted.push(...group);
            return;
          }
          owners.set(within, claim.owner);
        }
        try {
          const pair = await this.#store.atomicPut(this.chunkKey(index), encodeChunk(owners), chunk.pair);
          snapshot.replaceChunk(index, pair, owners);
          result.committed.push(...group);
        } catch (err) {
          if (isConflict(err)) {
            snapshot.stale = true;
            result.conflicted.push(...group);
          } else {
            result.failed.push({ claims: group, error: err });
          }
        }
      }),
    );
    return result;
  }

  /**
   * Frees every claim in `claims` that is still held by its owner (a fresh read per chunk,
   * retried on conflict). An offset held by anyone else is left alone. Resolves with how many
   * were freed.
   */
  async release(claims: Claim[]): Promise<number> {
    const byChunk = new Map<string, { index: Offset; claims: Claim[] }>();
    for (const claim of claims) {
      const { index } = locate(claim.offset);
      const key = String(index);
      let group = byChunk.get(key);
      if (!group) byChunk.set(key, (group = { index, claims: [] }));
      group.claims.push(claim);
    }
    let freed = 0;
    const failures: unknown[] = [];
    await Promise.all(
      [...byChunk.values()].map(async ({ index, claims: group }) => {
        try {
          let removed = 0;
          await updateRecord<ChunkRecord>(this.#store, this.chunkKey(index), (current) => {
            if (current === null) return UNCHANGED;
            const owners = new Map(current.e);
            removed = 0;
            for (const claim of group) {
              const within = locate(claim.offset).within;
              if (owners.get(within) === claim.owner) {
                owners.delete(within);
                removed++;
              }
            }
            if (removed === 0) return UNCHANGED;
            return owners.size === 0 ? DELETE : { e: sortedEntries(owners) };
          });
          freed += removed;
        } catch (err) {
          failures.push(err);
        }
      }),
    );
    if (failures.length > 0) throw failures[0];
    return freed;
  }

  /** The serial cursors, by scope ('' for the whole pool, the ip-range for a sub-pool). */
  async readCursors(): Promise<Map<string, Offset>> {
    try {
      const stored = json<Record<string, string>>(await this.#store.get(this.cursorKey));
      const out = new Map<string, Offset>();
      for (const [scope, text] of Object.entries(stored)) {
        const offset = parseOffset(text);
        if (offset !== null) out.set(scope, offset);
      }
      return out;
    } catch (err) {
      if (isKVError(err, 'KEY_NOT_FOUND')) return new Map();
      throw err;
    }
  }

  /** Persists where the next serial search starts, so a restart does not reuse a just-freed offset. */
  async writeCursor(scope: string, next: Offset): Promise<void> {
    await updateRecord<Record<string, string>>(this.#store, this.cursorKey, (current) => {
      if (current?.[scope] === String(next)) return UNCHANGED;
      return { ...current, [scope]: String(next) };
    });
  }

  /** Removes every chunk and the cursor (the pool is gone). */
  async destroy(): Promise<void> {
    await this.#store.deleteTree(this.dir);
  }
}

/**
 * The claims of one space as read at one moment: per-chunk owners with the pair they were read
 * from (for the next compare-and-swap), and the occupancy as a BitSequence for fast planning.
 */
export class ClaimSnapshot {
  readonly bits: BitSequence;
  /** Set when a commit lost a race: the caller should load again before planning more. */
  stale = false;
  readonly #chunks = new Map<string, LoadedChunk>();
  #byOwner: Map<string, Offset[]> | null = null;

  constructor(size: Offset) {
    this.bits = new BitSequence(size);
  }

  addChunk(index: Offset, pair: KVPair | null, owners: Map<number, string>): void {
    this.#chunks.set(String(index), { pair, owners });
    const base = chunkBase(index);
    for (const within of owners.keys()) this.bits.set(offsetIn(base, within));
    this.#byOwner = null;
  }

  /** After a successful commit: the chunk's new pair and owners (the bits were set by planning). */
  replaceChunk(index: Offset, pair: KVPair, owners: Map<number, string>): void {
    const base = chunkBase(index);
    for (const within of owners.keys()) this.bits.set(offsetIn(base, within));
    this.#chunks.set(String(index), { pair, owners });
    this.#byOwner = null;
  }

  chunk(index: Offset): LoadedChunk {
    return this.#chunks.get(String(index)) ?? { pair: null, owners: new Map() };
  }

  ownerAt(offset: Offset): string | undefined {
    const { index, within } = locate(offset);
    return this.#chunks.get(String(index))?.owners.get(within);
  }

  /** Every claim, in chunk order. */
  *claims(): IterableIterator<Claim> {
    for (const [key, chunk] of this.#chunks) {
      const base = chunkBase(toOffset(BigInt(key)));
      for (const [within, owner] of chunk.owners) yield { offset: offsetIn(base, within), owner };
    }
  }

  /** Offsets held by `owner` (restoring what a crashed or concurrent allocator already took). */
  heldBy(owner: string): Offset[] {
    if (this.#byOwner === null) {
      this.#byOwner = new Map();
      for (const claim of this.claims()) {
        const list = this.#byOwner.get(claim.owner);
        if (list) list.push(claim.offset);
        else this.#byOwner.set(claim.owner, [claim.offset]);
      }
    }
    return this.#byOwner.get(owner) ?? [];
  }

  get claimCount(): number {
    let n = 0;
    for (const chunk of this.#chunks.values()) n += chunk.owners.size;
    return n;
  }
}

function locate(offset: Offset): { index: Offset; within: number } {
  if (typeof offset === 'number')
    return { index: Math.floor(offset / CHUNK_BITS), within: offset % CHUNK_BITS };
  const size = BigInt(CHUNK_BITS);
  return { index: toOffset(offset / size), within: Number(offset % size) };
}

function chunkBase(index: Offset): Offset {
  return typeof index === 'number' && index * CHUNK_BITS <= Number.MAX_SAFE_INTEGER
    ? index * CHUNK_BITS
    : toOffset(toBig(index) * BigInt(CHUNK_BITS));
}

function offsetIn(base: Offset, within: number): Offset {
  return typeof base === 'number' && base + within <= Number.MAX_SAFE_INTEGER
    ? base + within
    : toOffset(toBig(base) + BigInt(within));
}

function decodeChunk(pair: KVPair): Map<number, string> {
  return new Map(json<ChunkRecord>(pair).e);
}

function sortedEntries(owners: Map<number, string>): [number, string][] {
  return [...owners].sort((a, b) => a[0] - b[0]);
}

function encodeChunk(owners: Map<number, string>): string {
  return JSON.stringify({ e: sortedEntries(owners) } satisfies ChunkRecord);
}
