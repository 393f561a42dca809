import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Database, open, type RootDatabase } from 'lmdb';
import { checkLmdbFile } from '../../lmdb/file-check.js';
import {
  type ConfState,
  type Entry,
  entrySize,
  type HardState,
  RaftError,
  type RaftStorage,
  type Snapshot,
  type SnapshotMetadata,
} from '../core/index.js';
import { DataDirLock } from './data-dir-lock.js';
import { LogCorruptError } from './errors.js';
import { checksum, decodeEntry, decodeMeta, encodeEntry, encodeMeta } from './record-codec.js';
import { TailCache } from './tail-cache.js';

/** Who this data directory belongs to. Written once, checked on every start. */
export interface StoredIdentity {
  nodeId: string;
  /** Null until a joining node has heard from its cluster. */
  clusterId: string | null;
  /** The bootstrap member list (`n1=host:port,...`), for error messages; null for a joined node. */
  initialCluster: string | null;
}

interface StoredSnapshot {
  index: number;
  term: number;
  confState: ConfState;
  /** Total bytes and CRC-32 of the image, stored as `parts` values (`data/0`, `data/1`...). */
  size: number;
  crc: number;
  parts: number;
}

/** The index and term just before the first log entry (what compaction removed up to). */
interface Compacted {
  index: number;
  term: number;
}

/** What one Ready asks to be made durable. */
export interface PersistBatch {
  snapshot: Snapshot | null;
  entries: Entry[];
  hardState: HardState | null;
}

export interface LogStorageOptions {
  /** Recent entries kept in memory for the leader's appends. Default 32 MiB. */
  cacheBytes?: number;
}

const FILE_NAME = 'raft.mdb';
const EMPTY_CONF: ConfState = { voters: [], learners: [] };

/**
 * The Raft log, hard state and snapshots of one node, in one LMDB file in its data dir.
 *
 * Reads are synchronous (the core's `RaftStorage`); writes are LMDB transactions run on the
 * event loop, one per Ready, so everything a Ready asks for commits atomically, and
 * proposals that arrive while one batch is being synced share the next sync (group
 * commit). Every record carries a CRC-32; the whole log is verified when the node starts.
 */
export class LogStorage implements RaftStorage {
  readonly dir: string;
  /** Writes flushed to disk so far (group commit makes this far smaller than the entries written). */
  syncs = 0;
  private readonly root: RootDatabase;
  private readonly log: Database<Uint8Array, number>;
  private readonly meta: Database<Uint8Array, string>;
  private readonly snap: Database<Uint8Array, string>;
  private readonly lock: DataDirLock;
  private readonly cache: TailCache;
  private ident: StoredIdentity | null;
  private hard: HardState;
  private snapMeta: StoredSnapshot;
  private compacted: Compacted;
  private last: number;
  /** The in-memory hard state has a newer commit index than the stored one. */
  private commitPending = false;
  private closed = false;

  private constructor(dir: string, opts: LogStorageOptions) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
    this.lock = DataDirLock.acquire(dir);
    try {
      checkLmdbFile(join(dir, FILE_NAME), (message) => new LogCorruptError(message));
      this.root = open({ path: join(dir, FILE_NAME), maxDbs: 4 });
    } catch (err) {
      this.lock.release();
      throw err;
    }
    this.log = this.root.openDB<Uint8Array, number>({ name: 'log', encoding: 'binary' });
    this.meta = this.root.openDB<Uint8Array, string>({ name: 'meta', encoding: 'binary' });
    this.snap = this.root.openDB<Uint8Array, string>({ name: 'snap', encoding: 'binary' });
    this.cache = new TailCache(opts.cacheBytes ?? 32 * 1024 * 1024);
    this.ident = this.readMeta<StoredIdentity>('identity');
    this.hard = this.readMeta<HardState>('hardState') ?? { term: 0, vote: null, commit: 0 };
    this.snapMeta = this.readMeta<StoredSnapshot>('snapshot') ?? {
      index: 0,
      term: 0,
      confState: EMPTY_CONF,
      size: 0,
      crc: 0,
      parts: 0,
    };
    this.compacted = this.readMeta<Compacted>('compacted') ?? { index: 0, term: 0 };
    this.last = this.compacted.index;
    for (const key of this.log.getKeys({ reverse: true, limit: 1 })) this.last = key;
  }

  /**
   * Opens (creating if needed) the log in `dir` and verifies it: every entry's checksum,
   * no gap, terms that never go down, a commit index the log actually holds. Any damage is
   * a LogCorruptError naming what is wrong; the files are left untouched.
   */
  static open(dir: string, opts: LogStorageOptions = {}): LogStorage {
    const storage = new LogStorage(dir, opts);
    try {
      storage.verify();
    } catch (err) {
      storage.abandon();
      throw err;
    }
    return storage;
  }

  /** True for a data dir that has never been initialised (no identity written yet). */
  isNew(): boolean {
    return this.ident === null;
  }

  identity(): StoredIdentity | null {
    return this.ident === null ? null : { ...this.ident };
  }

  async setIdentity(identity: StoredIdentity): Promise<void> {
    this.ensureOpen();
    this.root.transactionSync(() => this.meta.putSync('identity', encodeMeta(identity)));
    this.ident = { ...identity };
    await this.root.flushed;
  }

  // --- RaftStorage ----------------------------------------------------------------------

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hard }, confState: cloneConf(this.snapMeta.confState) };
  }

  entries(lo: number, hi: number, maxBytes = Number.POSITIVE_INFINITY): Entry[] {
    if (lo < this.firstIndex()) throw new RaftError('COMPACTED', `entries(${lo}): compacted`);
    if (hi > this.last + 1)
      throw new RaftError('UNAVAILABLE', `entries(.., ${hi}): beyond last index ${this.last}`);
    const out: Entry[] = [];
    let bytes = 0;
    const take = (entry: Entry): boolean => {
      bytes += entrySize(entry);
      if (out.length > 0 && bytes > maxBytes) return false;
      out.push(entry);
      return true;
    };
    let index = lo;
    const cacheStart = this.cache.firstIndex();
    if (index < hi && index < cacheStart) {
      const end = Math.min(hi, cacheStart);
      for (const { key, value } of this.log.getRange({ start: index, end })) {
        if (key !== index) throw new LogCorruptError(`log entry ${index} is missing (found ${key})`);
        if (!take(decodeEntry(value, key))) return out;
        index++;
      }
      if (index < end) throw new LogCorruptError(`log entry ${index} is missing`);
    }
    while (index < hi) {
      const entry = this.cache.get(index);
      if (entry === undefined) throw new LogCorruptError(`log entry ${index} is missing from the tail cache`);
      if (!take(entry)) return out;
      index++;
    }
    return out;
  }

  term(index: number): number {
    if (index === this.compacted.index) return this.compacted.term;
    if (index < this.compacted.index) throw new RaftError('COMPACTED', `term(${index}): compacted`);
    if (index > this.last)
      throw new RaftError('UNAVAILABLE', `term(${index}): beyond last index ${this.last}`);
    const cached = this.cache.get(index);
    if (cached !== undefined) return cached.term;
    const record = this.log.getBinary(index);
    if (record === undefined) throw new LogCorruptError(`log entry ${index} is missing`);
    return decodeEntry(record, index).term;
  }

  firstIndex(): number {
    return this.compacted.index + 1;
  }

  lastIndex(): number {
    return this.last;
  }

  snapshot(): Snapshot {
    const stored = this.snapMeta;
    const metadata: SnapshotMetadata = {
      index: stored.index,
      term: stored.term,
      confState: cloneConf(stored.confState),
    };
    // The image can be hundreds of MB and the core often only needs the metadata: load the
    // data on first access (verified against its checksum), once per returned snapshot.
    let data: Uint8Array | null = null;
    const load = () => {
      data ??= this.loadSnapshotData(stored);
      return data;
    };
    return {
      metadata,
      get data() {
        return load();
      },
    };
  }

  // --- writes ---------------------------------------------------------------------------

  /**
   * Makes a Ready's snapshot, entries and hard state durable, in that order and in one
   * transaction. With `sync`, resolves only once the write is flushed to disk.
   */
  async persist(batch: PersistBatch, sync: boolean): Promise<void> {
    this.ensureOpen();
    const { snapshot, entries } = batch;
    let hardState = batch.hardState;
    if (!snapshot && entries.length === 0) {
      if (!hardState) return;
      if (hardState.term === this.hard.term && hardState.vote === this.hard.vote) {
        // Only the commit index moved. Raft does not need it durable (a restarted node
        // learns it again), and every LMDB commit costs a flush: write it with the next
        // batch that has to be written anyway, or at close.
        this.hard = { ...hardState };
        this.commitPending = true;
        return;
      }
    }
    if (!hardState && this.commitPending) hardState = this.hard;
    const encoded = entries.map(encodeEntry);
    // An asynchronous transaction: LMDB commits on its writer thread, so the event loop keeps
    // taking messages and proposals (for the next batch) while the commit happens.
    await this.root.transaction(() => {
      if (snapshot) this.writeReceivedSnapshot(snapshot);
      if (entries.length > 0) {
        const first = entries[0].index;
        if (first > this.last + 1) {
          throw new RaftError('INVALID_ARGUMENT', `append at ${first} leaves a gap after ${this.last}`);
        }
        for (let i = Math.max(first, this.firstIndex()); i <= this.last; i++) this.log.removeSync(i);
        entries.forEach((entry, i) => {
          if (entry.index >= this.firstIndex()) this.log.putSync(entry.index, encoded[i]);
        });
        this.last = entries[entries.length - 1].index;
        this.cache.append(entries.filter((e) => e.index >= this.firstIndex()));
      }
      if (hardState) this.meta.putSync('hardState', encodeMeta(hardState));
    });
    if (hardState) this.hard = { ...hardState };
    this.commitPending = false;
    if (sync) {
      this.syncs++;
      await this.root.flushed;
    }
  }

  /**
   * Records a snapshot the state machine took at `index` (applied, so in the log) and
   * compacts the log, keeping `keepEntries` entries before `index` for slow followers.
   * The image may come in parts (stored as they are, so a large image is not copied to
   * join them); the snapshot's data is their concatenation.
   */
  async createSnapshot(
    index: number,
    confState: ConfState,
    image: Uint8Array | Uint8Array[],
    keepEntries: number,
  ): Promise<void> {
    const parts = Array.isArray(image) ? image : [image];
    this.ensureOpen();
    if (index <= this.snapMeta.index) return;
    if (index > this.last)
      throw new RaftError('UNAVAILABLE', `snapshot at ${index}: beyond last index ${this.last}`);
    const stored: StoredSnapshot = {
      index,
      term: this.term(index),
      confState: cloneConf(confState),
      ...measureParts(parts),
    };
    const compactTo = Math.max(this.compacted.index, index - keepEntries);
    const compacted: Compacted = { index: compactTo, term: this.term(compactTo) };
    this.root.transactionSync(() => {
      this.writeSnapshotParts(parts);
      this.meta.putSync('snapshot', encodeMeta(stored));
      for (let i = this.firstIndex(); i <= compactTo; i++) this.log.removeSync(i);
      this.meta.putSync('compacted', encodeMeta(compacted));
    });
    this.snapMeta = stored;
    this.compacted = compacted;
    this.cache.dropBefore(this.firstIndex());
    await this.root.flushed;
  }

  /** Writes a new cluster's first entries and hard state (every bootstrap member writes the same). */
  async bootstrap(identity: StoredIdentity, entries: Entry[], hardState: HardState): Promise<void> {
    if (!this.isNew() || this.last !== 0)
      throw new RaftError('INVALID_ARGUMENT', 'bootstrap of a used data dir');
    this.root.transactionSync(() => this.meta.putSync('identity', encodeMeta(identity)));
    this.ident = { ...identity };
    await this.persist({ snapshot: null, entries, hardState }, true);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      if (this.commitPending) {
        const hard = this.hard;
        this.root.transactionSync(() => this.meta.putSync('hardState', encodeMeta(hard)));
        await this.root.flushed;
      }
      await this.root.close();
    } finally {
      this.lock.release();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Closes after a failed start: the directory is free again at once. */
  private abandon(): void {
    this.closed = true;
    this.lock.release();
    this.root.close().catch(() => {});
  }

  // --- internals ------------------------------------------------------------------------

  private writeReceivedSnapshot(snapshot: Snapshot): void {
    const { index, term, confState } = snapshot.metadata;
    const parts = [snapshot.data];
    const stored: StoredSnapshot = { index, term, confState: cloneConf(confState), ...measureParts(parts) };
    // The snapshot replaces the whole log.
    for (let i = this.firstIndex(); i <= this.last; i++) this.log.removeSync(i);
    this.writeSnapshotParts(parts);
    this.meta.putSync('snapshot', encodeMeta(stored));
    this.meta.putSync('compacted', encodeMeta({ index, term } satisfies Compacted));
    this.snapMeta = stored;
    this.compacted = { index, term };
    this.last = index;
    this.cache.reset(index + 1);
  }

  private writeSnapshotParts(parts: Uint8Array[]): void {
    for (let i = parts.length; i < this.snapMeta.parts; i++) this.snap.removeSync(`data/${i}`);
    parts.forEach((part, i) => {
      this.snap.putSync(`data/${i}`, part);
    });
  }

  /**
   * The stored snapshot image, as the parts it was written in (each verified as a whole
   * against the stored checksum). The node restores from the parts without joining them.
   */
  snapshotParts(): Uint8Array[] {
    return this.loadSnapshotParts(this.snapMeta);
  }

  private loadSnapshotParts(stored: StoredSnapshot): Uint8Array[] {
    if (stored.index === 0 || stored.parts === 0) return [];
    const parts: Uint8Array[] = [];
    for (let i = 0; i < stored.parts; i++) {
      const part = this.snap.getBinary(`data/${i}`);
      if (part === undefined)
        throw new LogCorruptError(`snapshot ${stored.index}: image part ${i} is missing`);
      parts.push(part);
    }
    const found = measureParts(parts);
    if (found.size !== stored.size || found.crc !== stored.crc) {
      throw new LogCorruptError(`snapshot ${stored.index}: image fails its checksum (${found.size} bytes)`);
    }
    return parts;
  }

  private loadSnapshotData(stored: StoredSnapshot): Uint8Array {
    const parts = this.loadSnapshotParts(stored);
    if (parts.length === 1) return parts[0];
    return Buffer.concat(parts);
  }

  private readMeta<T>(key: string): T | null {
    const record = this.meta.getBinary(key);
    return record === undefined ? null : decodeMeta<T>(record, `${this.dir}: ${key} record`);
  }

  private verify(): void {
    const where = `${this.dir}/${FILE_NAME}`;
    let expected = this.firstIndex();
    let prevTerm = this.compacted.term;
    for (const { key, value } of this.log.getRange({})) {
      if (key < expected) {
        throw new LogCorruptError(`${where}: log entry ${key} lies before the first index ${expected}`);
      }
      if (key > expected) {
        throw new LogCorruptError(`${where}: log entries ${expected}..${key - 1} are missing`);
      }
      let entry: Entry;
      try {
        entry = decodeEntry(value, key);
      } catch (err) {
        const tail = key === this.last ? ' (the last entry: a torn or corrupt tail)' : '';
        throw new LogCorruptError(
          `${where}: ${(err as Error).message}${tail}. Refusing to start; nothing was changed.`,
          { cause: err },
        );
      }
      if (entry.term < prevTerm) {
        throw new LogCorruptError(`${where}: log entry ${key} has term ${entry.term} after term ${prevTerm}`);
      }
      prevTerm = entry.term;
      expected++;
    }
    if (this.hard.commit > this.last) {
      throw new LogCorruptError(
        `${where}: commit index ${this.hard.commit} is beyond the last log entry ${this.last}: ` +
          'committed entries are missing. Refusing to start; nothing was changed.',
      );
    }
    // The snapshot image is verified when the node restores from it, at start.
    this.cache.reset(this.last + 1);
  }

  private ensureOpen(): void {
    if (this.closed) throw new RaftError('INVALID_ARGUMENT', `log storage ${this.dir} is closed`);
  }
}

function measureParts(parts: Uint8Array[]): { size: number; crc: number; parts: number } {
  let crc = 0;
  let size = 0;
  for (const part of parts) {
    crc = checksum(part, crc);
    size += part.byteLength;
  }
  return { size, crc, parts: parts.length };
}

function cloneConf(conf: ConfState): ConfState {
  return { voters: [...conf.voters], learners: [...conf.learners] };
}
