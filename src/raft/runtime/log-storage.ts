import {
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import {
  type ConfState,
  type Entry,
  entrySize,
  type HardState,
  RaftError,
  type RaftStorage,
  type Snapshot,
  type SnapshotSource,
} from '../core/index.js';
import { DataDirLock } from './data-dir-lock.js';
import { EntryPositions } from './entry-positions.js';
import { LogCorruptError } from './errors.js';
import {
  allZero,
  decodeMeta,
  encodeHardStateRecord,
  encodeMarkRecord,
  encodeMeta,
  entryRecordSize,
  type LogRecord,
  readRecord,
  writeEntryRecord,
} from './record-codec.js';
import { listSnapshots, removeOldSnapshots, SnapshotFile, writeSnapshotFile } from './snapshot-file.js';
import { TailCache } from './tail-cache.js';
import {
  checkHeader,
  parseSegmentName,
  preallocateSegment,
  preallocateSegmentSync,
  SEGMENT_HEADER,
  Segment,
  syncDir,
} from './wal-segment.js';

const noop = () => {};

/** Who this data directory belongs to. Written once, checked on every start. */
export interface StoredIdentity {
  nodeId: string;
  /** Null until a joining node has heard from its cluster. */
  clusterId: string | null;
  /** The bootstrap member list (`n1=host:port,...`), for error messages; null for a joined node. */
  initialCluster: string | null;
}

/** What one Ready asks to be made durable. */
export interface PersistBatch {
  snapshot: Snapshot | null;
  entries: Entry[];
  hardState: HardState | null;
}

export interface LogStorageOptions {
  /** Recent entries kept in memory for the leader's appends (older ones are one read away). Default 8 MiB. */
  cacheBytes?: number;
  /** Size of each preallocated log segment. Default 4 MiB (tests use less). */
  segmentBytes?: number;
}

const IDENTITY_FILE = 'identity';
/** The log of kvkit versions before the segment log (an LMDB file). */
const LEGACY_FILE = 'raft.mdb';
const DEFAULT_SEGMENT_BYTES = 4 * 1024 * 1024;
const EMPTY_CONF: ConfState = { voters: [], learners: [] };

/** The index and term just before the first log entry (what compaction removed up to). */
interface Mark {
  index: number;
  term: number;
}

/** Bytes of one segment run of a write: consecutive records of one segment. */
interface SegmentWrite {
  seq: number;
  offset: number;
  buffers: Uint8Array[];
}

/** One persist (or internal record) waiting for the writer. */
interface WriteItem {
  writes: SegmentWrite[];
  sync: boolean;
  /** Highest entry index this item writes (0: none). */
  lastEntry: number;
  /** Runs before the item's records are written (a received snapshot's file). */
  before: (() => Promise<void>) | null;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * The Raft log, hard state and snapshots of one node, in its data dir:
 *
 * - `*.wal`: the write-ahead log, preallocated zero-filled segments (wal-segment.ts) of
 *   CRC-checked records (record-codec.ts): entries, hard states, compaction and reset marks.
 *   Each segment starts with the hard state and compaction point of its moment, so older
 *   segments can be deleted once compacted.
 * - `snap-<index>.snap`: the latest snapshot (snapshot-file.ts).
 * - `identity`, `node.pid`.
 *
 * Reads are synchronous (the core's `RaftStorage`): the tail in memory, older entries one
 * `pread` away. Writes are queued and written by one writer in order, off the event loop:
 * every batch queued while a write is on its way joins the next one, which is one `writev`
 * and one `fdatasync` per segment touched (group commit, and any number of batches in
 * flight). The whole log is verified when the node starts; a torn last write (a crash in
 * the middle of it: it was never acknowledged) is cut off, any other damage is refused.
 */
export class LogStorage implements RaftStorage {
  readonly dir: string;
  /** Flushes to disk so far (group commit makes this far smaller than the batches written). */
  syncs = 0;
  private readonly lock: DataDirLock;
  private readonly cache: TailCache;
  private readonly positions = new EntryPositions();
  private readonly segmentBytes: number;
  private readonly segments = new Map<number, Segment>();
  /** Segments being preallocated (the writer waits for them). */
  private readonly preparing = new Map<number, Promise<Segment>>();
  /** Highest entry index in each segment (for deleting compacted segments). */
  private readonly segmentLast = new Map<number, number>();
  private ident: StoredIdentity | null;
  private hard: HardState = { term: 0, vote: null, commit: 0 };
  private compacted: Mark = { index: 0, term: 0 };
  private last = 0;
  private snap: SnapshotFile | null = null;
  /** Where the next record goes. */
  private writeSeq = 0;
  private writeAt = SEGMENT_HEADER;
  private queue: WriteItem[] = [];
  private writing = false;
  /** First entry index not yet written (entries from here on stay in the tail cache). */
  private unwrittenFrom = Number.POSITIVE_INFINITY;
  /** The in-memory hard state has a newer commit index than the stored one. */
  private commitPending = false;
  private failed: unknown = null;
  private closed = false;

  private constructor(dir: string, opts: LogStorageOptions) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.lock = DataDirLock.acquire(dir);
    this.cache = new TailCache(opts.cacheBytes ?? 8 * 1024 * 1024);
    this.segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.ident = null;
  }

  /**
   * Opens (creating if needed) the log in `dir` and verifies it: every record's checksum,
   * no gap, terms that never go down, a commit index the log actually holds, the snapshot
   * the log was compacted to. Any damage is a LogCorruptError naming what is wrong, and the
   * files are left untouched (only a torn last write is cut off).
   */
  static open(dir: string, opts: LogStorageOptions = {}): LogStorage {
    const storage = new LogStorage(dir, opts);
    try {
      storage.recover();
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
    writeFileAtomic(join(this.dir, IDENTITY_FILE), encodeMeta(identity));
    this.ident = { ...identity };
  }

  // --- RaftStorage ----------------------------------------------------------------------

  initialState(): { hardState: HardState; confState: ConfState } {
    const conf = this.snap?.metadata.confState ?? EMPTY_CONF;
    return { hardState: { ...this.hard }, confState: cloneConf(conf) };
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
    while (index < hi && index < cacheStart) {
      // One read for a run of entries in one segment (at most ~1 MiB).
      const seq = this.positions.seq(index);
      const start = this.positions.offset(index);
      let end = index;
      let span = 0;
      while (end < Math.min(hi, cacheStart) && this.positions.seq(end) === seq && span < 1024 * 1024) {
        span = this.positions.offset(end) + this.positions.length(end) - start;
        end++;
      }
      const buf = this.segment(seq).read(start, span);
      for (let i = index; i < end; i++) {
        const at = this.positions.offset(i) - start;
        const read = readRecord(buf, at, at + this.positions.length(i));
        if (read.kind !== 'record' || read.record.type !== 'entry' || read.record.entry.index !== i) {
          throw new LogCorruptError(
            `log entry ${i}: unreadable (${read.kind === 'bad' ? read.why : 'no entry'})`,
          );
        }
        if (!take(read.record.entry)) return out;
      }
      index = end;
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
    return this.positions.term(index);
  }

  firstIndex(): number {
    return this.compacted.index + 1;
  }

  lastIndex(): number {
    return this.last;
  }

  /** The stored snapshot; its data is read from the file a slice at a time, as it is sent. */
  snapshot(): SnapshotSource {
    if (!this.snap)
      return { metadata: { index: 0, term: 0, confState: cloneConf(EMPTY_CONF) }, data: new Uint8Array() };
    const { index, term, confState } = this.snap.metadata;
    return { metadata: { index, term, confState: cloneConf(confState) }, data: this.snap.data() };
  }

  /** The stored snapshot image in slices of ~1 MiB (for restoring it; nothing is held whole). */
  snapshotSlices(): Iterable<Uint8Array> {
    return this.snap ? this.snap.slices() : [];
  }

  /** The stored snapshot image, as slices in memory (small images; `snapshotSlices` streams). */
  snapshotParts(): Uint8Array[] {
    return [...this.snapshotSlices()];
  }

  // --- writes ---------------------------------------------------------------------------

  /**
   * Makes a Ready's snapshot, entries and hard state durable, in that order. Reads see them
   * at once; the promise resolves once they are written (and, with `sync`, flushed). Calls
   * may overlap: they are written in call order.
   */
  persist(batch: PersistBatch, sync: boolean): Promise<void> {
    this.ensureOpen();
    const { snapshot, entries } = batch;
    let hardState = batch.hardState;
    if (!snapshot && entries.length === 0) {
      if (!hardState) return Promise.resolve();
      if (hardState.term === this.hard.term && hardState.vote === this.hard.vote) {
        // Only the commit index moved. Raft does not need it durable (a restarted node
        // learns it again): write it with the next batch that is written anyway, or at close.
        this.hard = { ...hardState };
        this.commitPending = true;
        return Promise.resolve();
      }
    }
    if (!hardState && this.commitPending) hardState = this.hard;
    const records = new RecordRun(this);
    let before: (() => Promise<void>) | null = null;
    let resetSeq = 0;
    if (snapshot) {
      const { index, term, confState } = snapshot.metadata;
      const metadata = { index, term, confState: cloneConf(confState) };
      // The image must be on disk before the log says it replaced the entries.
      before = () => this.installSnapshotFile(metadata, snapshot.data);
      this.compacted = { index, term };
      this.last = index;
      this.positions.reset(index + 1);
      this.cache.reset(index + 1);
      resetSeq = records.mark('reset', index, term);
    }
    let lastEntry = 0;
    if (entries.length > 0) {
      const first = entries[0].index;
      if (first > this.last + 1) {
        throw new RaftError('INVALID_ARGUMENT', `append at ${first} leaves a gap after ${this.last}`);
      }
      const kept = entries.filter((e) => e.index >= this.firstIndex());
      if (kept.length > 0) {
        if (kept[0].index <= this.last) {
          // A new leader overwrites a suffix: the mark says so to whoever reads the log back.
          records.mark('truncate', kept[0].index, 0);
          this.positions.truncateFrom(kept[0].index);
        }
        for (const entry of kept) records.entry(entry);
        this.last = kept[kept.length - 1].index;
        lastEntry = this.last;
        this.cache.append(kept);
        this.unwrittenFrom = Math.min(this.unwrittenFrom, kept[0].index);
        this.cache.pinFrom(this.unwrittenFrom);
      }
    }
    if (hardState) {
      records.hard(hardState);
      this.hard = { ...hardState };
      this.commitPending = false;
    }
    const written = this.enqueue(records.done(), sync, lastEntry, before);
    if (resetSeq === 0) return written;
    // Once the reset is on disk, the segments before it hold nothing the log needs.
    return written.then(() => {
      this.resetSeq = Math.max(this.resetSeq, resetSeq);
      this.removeCompactedSegments();
    });
  }

  /**
   * Records a snapshot the state machine took at `index` (applied, so in the log) and
   * compacts the log, keeping `keepEntries` entries before `index` for slow followers. The
   * image comes as chunks pulled one at a time (a generator producing them lazily, see
   * snapshot-image.ts); the file is written in slices with the event loop free in between.
   */
  async createSnapshot(
    index: number,
    confState: ConfState,
    image: Iterable<Uint8Array> | Uint8Array,
    keepEntries: number,
  ): Promise<void> {
    const chunks = image instanceof Uint8Array ? [image] : image;
    const close = () => (chunks as Partial<Iterator<Uint8Array>>).return?.();
    if (this.closed || index <= (this.snap?.metadata.index ?? 0)) {
      close();
      return;
    }
    this.ensureOpen();
    if (index > this.last) {
      close();
      throw new RaftError('UNAVAILABLE', `snapshot at ${index}: beyond last index ${this.last}`);
    }
    const metadata = { index, term: this.term(index), confState: cloneConf(confState) };
    let path: string;
    try {
      path = await writeSnapshotFile(this.dir, metadata, chunks);
    } catch (err) {
      // A snapshot from the leader replaced the state while this one was read: it is void.
      if ((err as { code?: string })?.code === 'SNAPSHOT_SUPERSEDED') return;
      throw err;
    }
    if (this.closed || index <= (this.snap?.metadata.index ?? 0)) {
      // A snapshot from the leader arrived meanwhile and is newer.
      if (this.snap?.path !== path) rmSync(path, { force: true });
      return;
    }
    this.adoptSnapshotFile(path);
    const compactTo = Math.max(this.compacted.index, index - keepEntries);
    if (compactTo <= this.compacted.index) return;
    const mark: Mark = { index: compactTo, term: this.term(compactTo) };
    this.compacted = mark;
    this.positions.dropBefore(compactTo + 1);
    this.cache.dropBefore(compactTo + 1);
    const records = new RecordRun(this);
    records.mark('compact', mark.index, mark.term);
    // Synced: segments are deleted only once the log says they are no longer needed.
    await this.enqueue(records.done(), true, 0, null);
    this.durableCompacted = Math.max(this.durableCompacted, mark.index);
    this.removeCompactedSegments();
  }

  /** Writes a new cluster's first entries and hard state (every bootstrap member writes the same). */
  async bootstrap(identity: StoredIdentity, entries: Entry[], hardState: HardState): Promise<void> {
    if (!this.isNew() || this.last !== 0)
      throw new RaftError('INVALID_ARGUMENT', 'bootstrap of a used data dir');
    await this.setIdentity(identity);
    await this.persist({ snapshot: null, entries, hardState }, true);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      if (this.commitPending && this.failed === null) {
        const records = new RecordRun(this);
        records.hard(this.hard);
        this.commitPending = false;
        await this.enqueue(records.done(), true, 0, null);
      }
      await this.drained();
    } finally {
      this.closed = true;
      await Promise.allSettled(this.preparing.values());
      for (const segment of this.segments.values()) segment.close();
      this.segments.clear();
      this.snap?.close();
      this.lock.release();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // --- the writer -----------------------------------------------------------------------

  /** Reserves `size` bytes for a record; returns where (rolling over to a new segment first if needed). */
  reserve(
    size: number,
    preamble: () => Uint8Array[],
  ): { seq: number; offset: number; preamble: Uint8Array[] } {
    const current = this.segmentSize(this.writeSeq);
    if (this.writeAt + size <= current) {
      const offset = this.writeAt;
      this.writeAt += size;
      return { seq: this.writeSeq, offset, preamble: [] };
    }
    // Next segment: it opens with the state of this moment, so older segments can go.
    const seq = this.writeSeq + 1;
    const head = preamble();
    const headBytes = head.reduce((n, b) => n + b.byteLength, 0);
    this.prepareSegment(seq, Math.max(this.segmentBytes, SEGMENT_HEADER + headBytes + size));
    this.writeSeq = seq;
    this.writeAt = SEGMENT_HEADER + headBytes + size;
    return { seq, offset: SEGMENT_HEADER, preamble: head };
  }

  /** An entry's record was placed at `offset` of segment `seq` (RecordRun). */
  placed(entry: Entry, seq: number, offset: number, size: number): void {
    this.positions.push(seq, offset, size, entry.term);
    this.segmentLast.set(seq, entry.index);
  }

  /** The records that open a new segment: the hard state and compaction point as of now. */
  preamble(pendingHard: HardState | null): Uint8Array[] {
    return [
      encodeHardStateRecord(pendingHard ?? this.hard),
      encodeMarkRecord('compact', this.compacted.index, this.compacted.term),
    ];
  }

  private enqueue(
    writes: SegmentWrite[],
    sync: boolean,
    lastEntry: number,
    before: (() => Promise<void>) | null,
  ): Promise<void> {
    if (this.failed !== null) return Promise.reject(this.failed);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ writes, sync, lastEntry, before, resolve, reject });
      if (!this.writing) void this.drain();
    });
  }

  /** Writes queued items in order: everything queued while one group is written forms the next. */
  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.queue.length > 0) {
        const head = this.queue[0];
        if (head.before) {
          await head.before();
          head.before = null;
        }
        let n = 1;
        while (n < this.queue.length && !this.queue[n].before) n++;
        const group = this.queue.slice(0, n);
        await this.writeGroup(group);
        this.queue.splice(0, n);
        for (const item of group) item.resolve();
      }
    } catch (err) {
      // A failed write leaves the log in an unknown state: every later write fails too.
      this.failed = err;
      for (const item of this.queue.splice(0)) item.reject(err);
    } finally {
      this.writing = false;
    }
  }

  private async writeGroup(group: WriteItem[]): Promise<void> {
    // Consecutive runs of one segment become one writev.
    const runs: SegmentWrite[] = [];
    for (const item of group) {
      for (const w of item.writes) {
        const prev = runs.at(-1);
        const prevEnd = prev ? prev.offset + prev.buffers.reduce((n, b) => n + b.byteLength, 0) : -1;
        if (prev && prev.seq === w.seq && prevEnd === w.offset) prev.buffers.push(...w.buffers);
        else runs.push({ seq: w.seq, offset: w.offset, buffers: [...w.buffers] });
      }
    }
    const touched: Segment[] = [];
    for (const run of runs) {
      const segment = await this.readySegment(run.seq);
      await segment.write(run.buffers, run.offset);
      if (!touched.includes(segment)) touched.push(segment);
    }
    if (group.some((item) => item.sync)) {
      for (const segment of touched) await segment.sync();
      this.syncs++;
    }
    let written = 0;
    for (const item of group) written = Math.max(written, item.lastEntry);
    if (written >= this.unwrittenFrom) {
      this.unwrittenFrom = written >= this.last ? Number.POSITIVE_INFINITY : written + 1;
      this.cache.pinFrom(this.unwrittenFrom);
    }
  }

  private drained(): Promise<void> {
    if (!this.writing && this.queue.length === 0) return Promise.resolve();
    // An empty item at the end resolves once everything before it is written.
    return this.enqueue([], false, 0, null);
  }

  // --- segments -------------------------------------------------------------------------

  private segment(seq: number): Segment {
    const segment = this.segments.get(seq);
    if (!segment) throw new LogCorruptError(`log segment ${seq} is not open`);
    return segment;
  }

  private segmentSize(seq: number): number {
    return this.segments.get(seq)?.size ?? this.sizes.get(seq) ?? this.segmentBytes;
  }

  /** Sizes of segments being prepared. */
  private readonly sizes = new Map<number, number>();

  /**
   * Preallocates segment `seq` of at least `size` bytes in the background. A second call for
   * a segment still being prepared (the spare, then a rollover needing a bigger one) waits
   * for the first: both write the same `.tmp` file, so they must not overlap.
   */
  private prepareSegment(seq: number, size: number): void {
    const existing = this.segments.get(seq);
    const pending = this.preparing.get(seq);
    if ((existing || pending) && this.segmentSize(seq) >= size) return;
    if (existing) {
      // A spare preallocated too small for a huge record: replace it.
      existing.close();
      this.segments.delete(seq);
      rmSync(existing.path, { force: true });
    }
    this.sizes.set(seq, size);
    const after = pending ? pending.then(noop, noop) : Promise.resolve();
    const ready: Promise<Segment> = after.then(async () => {
      const segment = await preallocateSegment(this.dir, seq, size);
      // Superseded by a bigger one (prepared next, renamed over this file): never used.
      const current = this.preparing.get(seq) === ready;
      if (current) this.preparing.delete(seq);
      if (this.closed || !current) {
        segment.close();
        return segment;
      }
      this.sizes.delete(seq);
      this.segments.set(seq, segment);
      return segment;
    });
    this.preparing.set(seq, ready);
  }

  private async readySegment(seq: number): Promise<Segment> {
    let segment = this.segments.get(seq);
    for (let pending = this.preparing.get(seq); !segment && pending; pending = this.preparing.get(seq)) {
      await pending;
      segment = this.segments.get(seq);
    }
    if (!segment) throw new LogCorruptError(`log segment ${seq} was never prepared`);
    // Keep one spare ready behind the segment in use, so a rollover rarely waits.
    if (seq === this.writeSeq && !this.segments.has(seq + 1) && !this.preparing.has(seq + 1)) {
      this.prepareSegment(seq + 1, this.segmentBytes);
    }
    return segment;
  }

  /**
   * Deletes the oldest segments while they hold nothing the log needs: every entry at or
   * below the (durable) compaction point, or everything before a (durable) reset. Oldest
   * first: the log read back must stay one run of records.
   */
  private removeCompactedSegments(): void {
    for (const seq of [...this.segments.keys()].sort((a, b) => a - b)) {
      if (seq >= this.writeSeq) return;
      const needed = seq >= this.resetSeq && (this.segmentLast.get(seq) ?? 0) > this.durableCompacted;
      if (needed) return;
      const segment = this.segment(seq);
      segment.close();
      this.segments.delete(seq);
      this.segmentLast.delete(seq);
      rmSync(segment.path, { force: true });
    }
  }

  /** The compaction point the log on disk says (segments at or below it can go). */
  private durableCompacted = 0;
  /** The segment of the newest reset on disk (segments before it can go). */
  private resetSeq = 0;

  // --- snapshots --------------------------------------------------------------------------

  private async installSnapshotFile(
    metadata: { index: number; term: number; confState: ConfState },
    data: Uint8Array,
  ): Promise<void> {
    this.adoptSnapshotFile(await writeSnapshotFile(this.dir, metadata, [data]));
  }

  private adoptSnapshotFile(path: string): void {
    const next = SnapshotFile.open(path);
    const old = this.snap;
    this.snap = next;
    if (old && old.path !== path) old.close();
    removeOldSnapshots(this.dir, next.metadata.index);
  }

  // --- start-up ---------------------------------------------------------------------------

  private recover(): void {
    const dir = this.dir;
    if (existsSync(join(dir, LEGACY_FILE))) {
      throw new LogCorruptError(
        `${dir} holds a log written by an earlier kvkit version (${LEGACY_FILE}), which this version does not read. ` +
          'Start the node on a fresh data dir and let it catch up from its cluster. Nothing was changed.',
      );
    }
    const identityPath = join(dir, IDENTITY_FILE);
    if (existsSync(identityPath))
      this.ident = decodeMeta<StoredIdentity>(readFileSync(identityPath), identityPath);
    for (const name of readdirSync(dir))
      if (name.endsWith('.wal.tmp') || name === `${IDENTITY_FILE}.tmp`)
        rmSync(join(dir, name), { force: true });
    removeOldSnapshots(dir, 0, true);

    const snapshots = listSnapshots(dir);
    if (snapshots.length > 0) this.snap = SnapshotFile.open(snapshots[0].path);

    const seqs = readdirSync(dir)
      .map(parseSegmentName)
      .filter((s): s is number => s !== null)
      .sort((a, b) => a - b);
    const reader = new LogReader();
    for (const [i, seq] of seqs.entries()) {
      const path = join(dir, `${seq.toString(16).padStart(16, '0')}.wal`);
      const segment = reader.openSegment(path, seq);
      this.segments.set(seq, segment);
      const end = reader.scan(segment, i === seqs.length - 1 || reader.restAreEmpty(dir, seqs.slice(i + 1)));
      if (reader.hasRecords(seq)) {
        this.writeSeq = seq;
        this.writeAt = end;
      }
    }
    reader.finish(this.snap?.metadata.index ?? 0, `${dir}`);
    this.hard = reader.hard;
    this.compacted = reader.compacted;
    this.durableCompacted = reader.compacted.index;
    this.last = reader.last;
    for (const [seq, last] of reader.segmentLast) this.segmentLast.set(seq, last);
    reader.fill(this.positions);
    if (this.segments.size === 0) {
      const first = preallocateSegmentSync(dir, 1, this.segmentBytes);
      this.segments.set(1, first);
      this.writeSeq = 1;
      this.writeAt = SEGMENT_HEADER;
    } else if (this.writeSeq === 0) {
      this.writeSeq = Math.min(...this.segments.keys());
      this.writeAt = SEGMENT_HEADER;
    }
    // Segments after the one in use are empty spares.
    this.cache.reset(this.last + 1);
  }

  /** Closes after a failed start: the directory is free again at once. */
  private abandon(): void {
    this.closed = true;
    for (const segment of this.segments.values()) segment.close();
    this.snap?.close();
    this.lock.release();
  }

  private ensureOpen(): void {
    if (this.closed) throw new RaftError('INVALID_ARGUMENT', `log storage ${this.dir} is closed`);
    if (this.failed !== null) throw this.failed;
  }
}

/**
 * Encodes one persist's records into buffers placed in the log (reserving their space in
 * call order, so reads and the writer agree where each record lies).
 */
class RecordRun {
  private readonly writes: SegmentWrite[] = [];
  private pendingHard: HardState | null = null;

  constructor(private readonly storage: LogStorage) {}

  entry(entry: Entry): void {
    const size = entryRecordSize(entry);
    const buf = Buffer.allocUnsafe(size);
    writeEntryRecord(buf, 0, entry);
    const at = this.place(buf);
    this.storage.placed(entry, at.seq, at.offset, size);
  }

  hard(hard: HardState): void {
    this.pendingHard = hard;
    this.place(encodeHardStateRecord(hard));
  }

  /** Returns the segment the mark went into. */
  mark(type: 'compact' | 'reset' | 'truncate', index: number, term: number): number {
    return this.place(encodeMarkRecord(type, index, term)).seq;
  }

  done(): SegmentWrite[] {
    return this.writes;
  }

  private place(buf: Uint8Array): { seq: number; offset: number } {
    const at = this.storage.reserve(buf.byteLength, () => this.storage.preamble(this.pendingHard));
    if (at.preamble.length > 0) {
      this.writes.push({ seq: at.seq, offset: SEGMENT_HEADER, buffers: [...at.preamble, buf] });
      const headBytes = at.preamble.reduce((n, b) => n + b.byteLength, 0);
      return { seq: at.seq, offset: SEGMENT_HEADER + headBytes };
    }
    const prev = this.writes.at(-1);
    const prevEnd = prev ? prev.offset + prev.buffers.reduce((n, b) => n + b.byteLength, 0) : -1;
    if (prev && prev.seq === at.seq && prevEnd === at.offset) prev.buffers.push(buf);
    else this.writes.push({ seq: at.seq, offset: at.offset, buffers: [buf] });
    return at;
  }
}

/** Reads the segments back at start and rebuilds the log's state, checking everything. */
class LogReader {
  hard: HardState = { term: 0, vote: null, commit: 0 };
  compacted: Mark = { index: 0, term: 0 };
  last = 0;
  readonly segmentLast = new Map<number, number>();
  /** Index of the first entry read (the start of what survives of the log), or null. */
  private base: number | null = null;
  private readonly seqs: number[] = [];
  private readonly offsets: number[] = [];
  private readonly lengths: number[] = [];
  private readonly terms: number[] = [];
  private readonly withRecords = new Set<number>();

  openSegment(path: string, seq: number): Segment {
    // r+: the segment in use is written to, and a torn tail zeroed.
    const fd = openSync(path, 'r+');
    const size = fstatSync(fd).size;
    const header = Buffer.allocUnsafe(SEGMENT_HEADER);
    const probe = new Segment(seq, path, fd, size);
    let segmentSize: number;
    try {
      if (size < SEGMENT_HEADER) throw new LogCorruptError(`${path}: segment is truncated (${size} bytes)`);
      probe.read(0, SEGMENT_HEADER).copy(header);
      segmentSize = checkHeader(path, header, seq, size);
    } catch (err) {
      probe.close();
      throw err;
    }
    return new Segment(seq, path, fd, segmentSize);
  }

  hasRecords(seq: number): boolean {
    return this.withRecords.has(seq);
  }

  /** Whether the segments `seqs` hold nothing but zeros after their headers. */
  restAreEmpty(dir: string, seqs: number[]): boolean {
    for (const seq of seqs) {
      const path = join(dir, `${seq.toString(16).padStart(16, '0')}.wal`);
      const data = readFileSync(path);
      if (!allZero(data, SEGMENT_HEADER, data.byteLength)) return false;
    }
    return true;
  }

  /**
   * Reads every record of a segment; returns the offset after the last one. A damaged record
   * is a torn write (cut off) when it is the last thing written in the last segment with data
   * and its bytes run out into zeros; anything else is a LogCorruptError.
   */
  scan(segment: Segment, last: boolean): number {
    const data = segment.read(0, segment.size);
    let at = SEGMENT_HEADER;
    for (;;) {
      const read = readRecord(data, at, segment.size, true);
      if (read.kind === 'end') {
        if (!allZero(data, at, Math.min(segment.size, at + 4096))) {
          throw new LogCorruptError(`${segment.path}: data after the end of the log at offset ${at}`);
        }
        return at;
      }
      if (read.kind === 'bad') {
        if (last && isTorn(data, at, read.claimedEnd, segment.size)) {
          // A write cut short by a crash; it was never acknowledged (acks wait for its sync).
          segment.zeroSync(at, Math.min(segment.size, Math.max(read.claimedEnd, lastNonZero(data) + 1)));
          return at;
        }
        const tail =
          last && lastNonZero(data) < read.claimedEnd ? ' (the last entry: a torn or corrupt tail)' : '';
        throw new LogCorruptError(
          `${segment.path}: ${this.describe(data, at)}: ${read.why} at offset ${at}${tail}. Refusing to start; nothing was changed.`,
        );
      }
      this.withRecords.add(segment.seq);
      this.apply(read.record, segment.seq, at, read.next - at, segment.path);
      at = read.next;
    }
  }

  /** Names the record at `at` for a message (its entry index when the header is readable). */
  private describe(data: Buffer, at: number): string {
    if (data[at + 8] === 1 && at + 17 <= data.byteLength) return `log entry ${data.readDoubleBE(at + 9)}`;
    return `log record`;
  }

  private apply(record: LogRecord, seq: number, offset: number, length: number, where: string): void {
    switch (record.type) {
      case 'hard':
        this.hard = record.hardState;
        return;
      case 'compact':
        if (record.index > this.compacted.index) this.compacted = { index: record.index, term: record.term };
        return;
      case 'reset':
        this.compacted = { index: record.index, term: record.term };
        this.last = record.index;
        this.base = record.index + 1;
        this.truncate(record.index + 1);
        return;
      case 'truncate':
        if (this.base === null || record.index < this.base || record.index > this.last + 1) {
          throw new LogCorruptError(`${where}: a truncation at ${record.index} outside the log`);
        }
        this.truncate(record.index);
        this.last = record.index - 1;
        return;
      case 'entry': {
        const { index, term } = record.entry;
        if (this.base === null) {
          this.base = index;
          this.last = index - 1;
        }
        if (index !== this.last + 1) {
          const gap =
            index > this.last + 1 ? ` (log entries ${this.last + 1}..${index - 1} are missing)` : '';
          throw new LogCorruptError(
            `${where}: log entry ${this.last + 1}: record carries index ${index}${gap}. Refusing to start; nothing was changed.`,
          );
        }
        this.seqs.push(seq);
        this.offsets.push(offset);
        this.lengths.push(length);
        this.terms.push(term);
        this.last = index;
        this.segmentLast.set(seq, index);
      }
    }
  }

  private truncate(from: number): void {
    if (this.base === null) return;
    const keep = Math.max(0, from - this.base);
    this.seqs.length = Math.min(this.seqs.length, keep);
    this.offsets.length = this.seqs.length;
    this.lengths.length = this.seqs.length;
    this.terms.length = this.seqs.length;
    if (keep === 0) this.base = from;
  }

  /** Checks the log as a whole once every segment is read. */
  finish(snapshotIndex: number, where: string): void {
    if (this.base === null) this.last = Math.max(this.last, this.compacted.index);
    if (this.base !== null && this.seqs.length > 0 && this.base > this.compacted.index + 1) {
      throw new LogCorruptError(
        `${where}: log entries ${this.compacted.index + 1}..${this.base - 1} are missing`,
      );
    }
    if (this.compacted.index > snapshotIndex) {
      throw new LogCorruptError(
        `${where}: the log was compacted to ${this.compacted.index}, but the snapshot that covers it is missing ` +
          `(newest snapshot: ${snapshotIndex}). Refusing to start; nothing was changed.`,
      );
    }
    let prevTerm = this.compacted.term;
    const first = this.compacted.index + 1;
    for (let i = Math.max(0, first - (this.base ?? first)); i < this.terms.length; i++) {
      const term = this.terms[i];
      if (term < prevTerm) {
        throw new LogCorruptError(
          `${where}: log entry ${(this.base ?? 0) + i} has term ${term} after term ${prevTerm}`,
        );
      }
      prevTerm = term;
    }
    if (this.hard.commit > this.last) {
      throw new LogCorruptError(
        `${where}: commit index ${this.hard.commit} is beyond the last log entry ${this.last}: ` +
          'committed entries are missing. Refusing to start; nothing was changed.',
      );
    }
  }

  fill(positions: EntryPositions): void {
    const first = this.compacted.index + 1;
    positions.reset(Math.max(first, this.base ?? first));
    const skip = this.base === null ? 0 : Math.max(0, first - this.base);
    for (let i = skip; i < this.seqs.length; i++) {
      positions.push(this.seqs[i], this.offsets[i], this.lengths[i], this.terms[i]);
    }
    if (this.base === null || this.seqs.length === 0) positions.reset(this.last + 1);
  }
}

/**
 * Whether a damaged record is a write cut short: everything from some point inside it to
 * the end of the segment is zero (the write stopped early), it runs past the segment's end,
 * or it holds a whole zeroed 512-byte sector (a sector never written, as etcd's wal/decoder.go
 * checks).
 */
function isTorn(data: Buffer, at: number, claimedEnd: number, size: number): boolean {
  if (claimedEnd > size) return allZero(data, Math.min(size, lastNonZero(data) + 1), size);
  if (lastNonZero(data) < claimedEnd - 1) return true;
  for (let sector = Math.ceil(at / 512) * 512; sector + 512 <= claimedEnd; sector += 512) {
    if (allZero(data, sector, sector + 512)) return true;
  }
  return false;
}

function lastNonZero(data: Buffer): number {
  for (let i = data.byteLength - 1; i >= 0; i--) if (data[i] !== 0) return i;
  return -1;
}

/** Writes a small file so that a crash leaves the old or the new content, never a mix. */
function writeFileAtomic(path: string, data: Uint8Array): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, data, { mode: 0o600, flush: true });
  renameSync(tmp, path);
  syncDir(join(path, '..'));
}

function cloneConf(conf: ConfState): ConfState {
  return { voters: [...conf.voters], learners: [...conf.learners] };
}
