import { spawn } from 'node:child_process';
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Entry, RaftError } from '../../src/raft/core/index.js';
import { LogCorruptError } from '../../src/raft/runtime/errors.js';
import { LogStorage, type LogStorageOptions } from '../../src/raft/runtime/log-storage.js';
import { entryRecordSize, readRecord, writeEntryRecord } from '../../src/raft/runtime/record-codec.js';
import { SEGMENT_HEADER } from '../../src/raft/runtime/wal-segment.js';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const entry = (index: number, term: number, data = `e${index}`): Entry => ({
  index,
  term,
  type: 'normal',
  data: bytes(data),
});
const range = (lo: number, hi: number, term: number) =>
  Array.from({ length: hi - lo + 1 }, (_, i) => entry(lo + i, term));

const SMALL = { segmentBytes: 64 * 1024 };
let dir: string;
const opened: LogStorage[] = [];
const openLog = (opts: LogStorageOptions = SMALL) => {
  const s = LogStorage.open(dir, opts);
  opened.push(s);
  return s;
};
async function reopen(s: LogStorage, opts: LogStorageOptions = SMALL): Promise<LogStorage> {
  await s.close();
  opened.splice(opened.indexOf(s), 1);
  return openLog(opts);
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kvkit-log-'));
});
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

const segmentFiles = () =>
  readdirSync(dir)
    .filter((n) => n.endsWith('.wal'))
    .sort()
    .map((n) => join(dir, n));

/** The records of a segment file, with where each lies. */
function records(path: string) {
  const data = readFileSync(path);
  const out: { at: number; end: number; record: ReturnType<typeof readRecord> }[] = [];
  let at = SEGMENT_HEADER;
  for (;;) {
    const read = readRecord(data, at, data.byteLength);
    if (read.kind !== 'record') return { data, records: out };
    out.push({ at, end: read.next, record: read });
    at = read.next;
  }
}

/** Damages a segment behind the storage's back, like a disk (or a person) would. */
function tamper(
  path: string,
  change: (data: Buffer, found: ReturnType<typeof records>['records']) => Buffer,
) {
  const { data, records: found } = records(path);
  writeFileSync(path, change(data, found));
}

/** The record of entry `index` in a segment's record list. */
const recordOf = (found: ReturnType<typeof records>['records'], index: number) =>
  found.find(
    (r) =>
      r.record.kind === 'record' && r.record.record.type === 'entry' && r.record.record.entry.index === index,
  );

/** `data` with `[at, end)` cut out and zeros appended (the file keeps its size). */
function cut(data: Buffer, at: number, end: number): Buffer {
  return Buffer.concat([data.subarray(0, at), data.subarray(end), Buffer.alloc(end - at)]);
}

describe('LogStorage', () => {
  it('restores identity, hard state, entries and snapshot after a restart', async () => {
    const s = openLog();
    expect(s.isNew()).toBe(true);
    await s.bootstrap({ nodeId: 'n1', clusterId: 'c1', initialCluster: 'n1=a' }, range(1, 3, 1), {
      term: 1,
      vote: null,
      commit: 3,
    });
    await s.persist(
      { snapshot: null, entries: range(4, 10, 2), hardState: { term: 2, vote: 'n2', commit: 8 } },
      true,
    );
    await s.createSnapshot(6, { voters: ['n1', 'n2'], learners: [] }, bytes('image@6'), 2);
    const r = await reopen(s);
    expect(r.isNew()).toBe(false);
    expect(r.identity()).toEqual({ nodeId: 'n1', clusterId: 'c1', initialCluster: 'n1=a' });
    expect(r.initialState()).toEqual({
      hardState: { term: 2, vote: 'n2', commit: 8 },
      confState: { voters: ['n1', 'n2'], learners: [] },
    });
    expect(r.firstIndex()).toBe(5);
    expect(r.lastIndex()).toBe(10);
    expect(r.term(4)).toBe(2);
    expect(r.entries(5, 11).map((e) => [e.index, e.term, text(e.data)])).toEqual(
      range(5, 10, 2).map((e) => [e.index, e.term, `e${e.index}`]),
    );
    const snap = r.snapshot();
    expect(snap.metadata).toEqual({ index: 6, term: 2, confState: { voters: ['n1', 'n2'], learners: [] } });
    expect(text(snap.data.subarray(0, snap.data.byteLength))).toBe('image@6');
  });

  it('stores a snapshot image pulled chunk by chunk, and reads it back in slices', async () => {
    const s = openLog();
    await s.persist({ snapshot: null, entries: range(1, 4, 1), hardState: null }, true);
    const pulled: number[] = [];
    function* chunks() {
      for (let i = 0; i < 5; i++) {
        pulled.push(i);
        yield bytes(`part${i}|`);
      }
    }
    await s.createSnapshot(3, { voters: ['n1'], learners: [] }, chunks(), 1);
    expect(pulled).toEqual([0, 1, 2, 3, 4]);
    const r = await reopen(s);
    const data = r.snapshot().data;
    expect(data.byteLength).toBe(30);
    expect(text(data.subarray(6, 12))).toBe('part1|');
    expect(text(Buffer.concat([...r.snapshotSlices()]))).toBe('part0|part1|part2|part3|part4|');
  });

  it('keeps a commit-only hard state change in memory until the next write or close', async () => {
    const s = openLog();
    await s.persist(
      { snapshot: null, entries: range(1, 5, 1), hardState: { term: 1, vote: 'n1', commit: 2 } },
      true,
    );
    await s.persist({ snapshot: null, entries: [], hardState: { term: 1, vote: 'n1', commit: 4 } }, false);
    // Not written yet: the last hard state record on disk still says commit 2.
    const hards = records(segmentFiles()[0]).records.filter(
      (r) => r.record.kind === 'record' && r.record.record.type === 'hard',
    );
    const lastHard = hards.at(-1)?.record;
    expect(
      lastHard?.kind === 'record' && lastHard.record.type === 'hard' && lastHard.record.hardState.commit,
    ).toBe(2);
    const r = await reopen(s);
    expect(r.initialState().hardState).toEqual({ term: 1, vote: 'n1', commit: 4 });
  });

  it('throws the core errors COMPACTED and UNAVAILABLE outside the log', async () => {
    const s = openLog();
    await s.persist({ snapshot: null, entries: range(1, 10, 1), hardState: null }, true);
    await s.createSnapshot(8, { voters: ['n1'], learners: [] }, bytes('x'), 3);
    expect(s.firstIndex()).toBe(6);
    expect(s.term(5)).toBe(1);
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return err instanceof RaftError ? err.code : String(err);
      }
      return 'none';
    };
    expect(code(() => s.entries(5, 7))).toBe('COMPACTED');
    expect(code(() => s.term(4))).toBe('COMPACTED');
    expect(code(() => s.entries(6, 12))).toBe('UNAVAILABLE');
    expect(code(() => s.term(11))).toBe('UNAVAILABLE');
  });

  it('replaces a conflicting suffix and limits reads by size, from disk and from the cache', async () => {
    const s = openLog({ ...SMALL, cacheBytes: 100 });
    await s.persist({ snapshot: null, entries: range(1, 10, 1), hardState: null }, true);
    await s.persist({ snapshot: null, entries: range(6, 7, 2), hardState: null }, true);
    expect(s.lastIndex()).toBe(7);
    expect(s.entries(1, 8).map((e) => e.term)).toEqual([1, 1, 1, 1, 1, 2, 2]);
    // Each entry counts 26 bytes (2 data + 24 overhead): 60 bytes fit two, never less than one.
    expect(s.entries(1, 8, 60).map((e) => e.index)).toEqual([1, 2]);
    expect(s.entries(6, 8, 1).map((e) => e.index)).toEqual([6]);
    // Read back from disk after a restart, the replaced suffix stays replaced.
    const r = await reopen(s, { ...SMALL, cacheBytes: 100 });
    expect(r.lastIndex()).toBe(7);
    expect(r.entries(1, 8).map((e) => e.term)).toEqual([1, 1, 1, 1, 1, 2, 2]);
  });

  it('replaces the whole log with a snapshot received from the leader', async () => {
    const s = openLog();
    await s.persist({ snapshot: null, entries: range(1, 5, 1), hardState: null }, true);
    const metadata = { index: 20, term: 3, confState: { voters: ['a', 'b', 'c'], learners: [] } };
    await s.persist(
      {
        snapshot: { metadata, data: bytes('leader image') },
        entries: [],
        hardState: { term: 3, vote: null, commit: 20 },
      },
      true,
    );
    await s.persist({ snapshot: null, entries: [entry(21, 3)], hardState: null }, true);
    const r = await reopen(s);
    expect([r.firstIndex(), r.lastIndex(), r.term(20)]).toEqual([21, 21, 3]);
    expect(r.initialState().confState.voters).toEqual(['a', 'b', 'c']);
    const data = r.snapshot().data;
    expect(text(data.subarray(0, data.byteLength))).toBe('leader image');
  });

  it('writes overlapping persists in call order with fewer flushes than batches (group commit)', async () => {
    const s = openLog();
    const writes = Array.from({ length: 200 }, (_, i) =>
      s.persist(
        { snapshot: null, entries: [entry(i + 1, 1)], hardState: { term: 1, vote: null, commit: i } },
        true,
      ),
    );
    await Promise.all(writes);
    expect(s.syncs).toBeLessThan(200);
    const r = await reopen(s);
    expect(r.lastIndex()).toBe(200);
    expect(r.entries(1, 201).map((e) => text(e.data))).toEqual(range(1, 200, 1).map((e) => text(e.data)));
  });

  it('rolls over to new segments and deletes the ones compaction left behind', async () => {
    const s = openLog({ segmentBytes: 16 * 1024, cacheBytes: 1024 });
    const big = (i: number) => entry(i, 1, `v${i}-${'x'.repeat(500)}`);
    for (let i = 1; i <= 300; i += 10) {
      await s.persist(
        { snapshot: null, entries: Array.from({ length: 10 }, (_, k) => big(i + k)), hardState: null },
        true,
      );
    }
    expect(segmentFiles().length).toBeGreaterThan(5);
    // An entry far back is read from its segment.
    expect(text(s.entries(3, 4)[0].data)).toBe(text(big(3).data));
    await s.createSnapshot(280, { voters: ['n1'], learners: [] }, bytes('img'), 10);
    expect(segmentFiles().length).toBeLessThanOrEqual(4);
    const r = await reopen(s, { segmentBytes: 16 * 1024, cacheBytes: 1024 });
    expect([r.firstIndex(), r.lastIndex()]).toEqual([271, 300]);
    expect(text(r.entries(271, 272)[0].data)).toBe(text(big(271).data));
  });

  it('waits for a spare segment still being prepared before preparing a bigger one in its place', async () => {
    const s = openLog({ segmentBytes: 16 * 1024 });
    // The first write starts preparing the spare segment 2; the second needs segment 2 bigger
    // than that spare, while it is still being written (both use the same .tmp file).
    const first = s.persist({ snapshot: null, entries: [entry(1, 1)], hardState: null }, true);
    const huge = entry(2, 1, 'x'.repeat(40_000));
    const second = s.persist({ snapshot: null, entries: [huge], hardState: null }, true);
    await Promise.all([first, second]);
    await s.persist({ snapshot: null, entries: [entry(3, 1)], hardState: null }, true);
    const r = await reopen(s, { segmentBytes: 16 * 1024 });
    expect(r.entries(1, 4).map((e) => text(e.data))).toEqual(['e1', text(huge.data), 'e3']);
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('creates its directory 0700 and its files 0600', async () => {
    rmSync(dir, { recursive: true, force: true });
    const s = openLog();
    await s.bootstrap({ nodeId: 'n1', clusterId: 'c', initialCluster: null }, range(1, 2, 1), {
      term: 1,
      vote: null,
      commit: 2,
    });
    await s.createSnapshot(2, { voters: ['n1'], learners: [] }, bytes('img'), 0);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const name of readdirSync(dir))
      expect([name, statSync(join(dir, name)).mode & 0o777]).toEqual([name, 0o600]);
  });

  it('cuts off a write torn by a crash (never acknowledged) and goes on from there', async () => {
    const s = openLog();
    await s.persist(
      { snapshot: null, entries: range(1, 5, 1), hardState: { term: 1, vote: null, commit: 5 } },
      true,
    );
    await s.close();
    opened.length = 0;
    // Half of entry 6's record reached the disk.
    tamper(segmentFiles()[0], (data, found) => {
      const end = (found.at(-1) as { end: number }).end;
      const record = Buffer.alloc(entryRecordSize(entry(6, 1)));
      writeEntryRecord(record, 0, entry(6, 1));
      record.copy(data, end, 0, Math.floor(record.byteLength / 2));
      return data;
    });
    const r = openLog();
    expect(r.lastIndex()).toBe(5);
    await r.persist({ snapshot: null, entries: [entry(6, 1, 'again')], hardState: null }, true);
    const again = await reopen(r);
    expect(text(again.entries(6, 7)[0].data)).toBe('again');
  });

  it('keeps every acknowledged write of a process killed with SIGKILL in the middle of writing', async () => {
    const script = `
      const { LogStorage } = await import(${JSON.stringify(join(import.meta.dirname, '../../src/raft/runtime/log-storage.ts'))});
      const s = LogStorage.open(${JSON.stringify(dir)}, { segmentBytes: 256 * 1024 });
      let i = 0;
      const data = new Uint8Array(200).fill(7);
      for (;;) {
        const batch = Array.from({ length: 1 + (i % 7) }, () => ({ index: ++i, term: 1, type: 'normal', data }));
        await s.persist({ snapshot: null, entries: batch, hardState: { term: 1, vote: null, commit: i } }, true);
        process.stdout.write(i + '\\n');
      }`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let acked = 0;
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => {
        const lines = chunk.toString().trim().split('\n');
        acked = Math.max(acked, Number(lines.at(-1)));
        if (acked > 800 && child.exitCode === null) child.kill('SIGKILL');
      });
      child.on('exit', () => resolve());
    });
    const r = openLog({ segmentBytes: 256 * 1024 });
    expect(r.lastIndex()).toBeGreaterThanOrEqual(acked);
    expect(r.initialState().hardState.commit).toBeGreaterThanOrEqual(acked);
    expect(r.entries(acked, acked + 1)[0].data.byteLength).toBe(200);
  }, 60_000);

  it('reports a corrupt tail entry at start and leaves the file untouched', async () => {
    const s = openLog();
    await s.persist(
      { snapshot: null, entries: range(1, 5, 1), hardState: { term: 1, vote: null, commit: 4 } },
      true,
    );
    await s.persist({ snapshot: null, entries: [entry(6, 1, 'torn')], hardState: null }, true);
    await s.close();
    opened.length = 0;
    const path = segmentFiles()[0];
    tamper(path, (data, found) => {
      const last = recordOf(found, 6) as { end: number };
      data[last.end - 1] ^= 0xff; // a flipped bit
      return data;
    });
    const before = readFileSync(path);
    expect(() => openLog()).toThrow(LogCorruptError);
    expect(() => openLog()).toThrow(
      /log entry 6: checksum mismatch .*\(the last entry: a torn or corrupt tail\)/,
    );
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it('reports a missing entry in the middle of the log', async () => {
    const s = openLog();
    await s.persist({ snapshot: null, entries: range(1, 5, 1), hardState: null }, true);
    await s.close();
    opened.length = 0;
    tamper(segmentFiles()[0], (data, found) => {
      const third = recordOf(found, 3) as { at: number; end: number };
      return cut(data, third.at, third.end);
    });
    expect(() => openLog()).toThrow(/log entries 3\.\.3 are missing/);
  });

  it('reports an entry stored under the wrong index', async () => {
    const s = openLog();
    await s.persist({ snapshot: null, entries: range(1, 3, 1), hardState: null }, true);
    await s.close();
    opened.length = 0;
    tamper(segmentFiles()[0], (data, found) => {
      const second = recordOf(found, 2) as { at: number };
      writeEntryRecord(data, second.at, entry(3, 1)); // same size: 'e3' for 'e2', a valid record
      return data;
    });
    expect(() => openLog()).toThrow(/log entry 2: record carries index 3/);
  });

  it('reports a commit index beyond the log (committed entries lost)', async () => {
    const s = openLog();
    await s.persist(
      { snapshot: null, entries: range(1, 5, 1), hardState: { term: 1, vote: null, commit: 5 } },
      true,
    );
    await s.close();
    opened.length = 0;
    tamper(segmentFiles()[0], (data, found) => {
      const fifth = recordOf(found, 5) as { at: number; end: number };
      return cut(data, fifth.at, fifth.end);
    });
    expect(() => openLog()).toThrow(/commit index 5 is beyond the last log entry 4/);
  });

  it('reports a truncated or foreign segment file instead of crashing on it', async () => {
    const s = openLog();
    await s.persist({ snapshot: null, entries: range(1, 3000, 1), hardState: null }, true);
    await s.close();
    opened.length = 0;
    const path = segmentFiles()[0];
    const size = statSync(path).size;
    truncateSync(path, Math.floor(size / 2));
    expect(() => openLog()).toThrow(/is truncated/);
    truncateSync(path, 10);
    expect(() => openLog()).toThrow(/is truncated \(10 bytes\)/);
    writeFileSync(path, Buffer.alloc(size, 0x5a));
    expect(() => openLog()).toThrow(/not a kvkit log segment/);
  });

  it('reports a missing snapshot the log was compacted to', async () => {
    const s = openLog();
    await s.persist({ snapshot: null, entries: range(1, 10, 1), hardState: null }, true);
    await s.createSnapshot(8, { voters: ['n1'], learners: [] }, bytes('x'), 2);
    await s.close();
    opened.length = 0;
    for (const name of readdirSync(dir)) if (name.endsWith('.snap')) rmSync(join(dir, name));
    expect(() => openLog()).toThrow(/compacted to 6, but the snapshot that covers it is missing/);
  });

  it('refuses the LMDB log of an earlier kvkit version, changing nothing', () => {
    writeFileSync(join(dir, 'raft.mdb'), 'old');
    expect(() => openLog()).toThrow(/earlier kvkit version/);
    expect(readdirSync(dir)).toEqual(['raft.mdb']);
  });

  it('refuses a second open of the same data dir', () => {
    openLog();
    expect(() => LogStorage.open(dir)).toThrow(/is in use by this process/);
  });
});
