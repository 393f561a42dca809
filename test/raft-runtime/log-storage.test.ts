import { mkdtempSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Entry, RaftError } from '../../src/raft/core/index.js';
import { LogCorruptError } from '../../src/raft/runtime/errors.js';
import { LogStorage } from '../../src/raft/runtime/log-storage.js';
import { encodeEntry } from '../../src/raft/runtime/record-codec.js';

const bytes = (s: string) => new TextEncoder().encode(s);
const entry = (index: number, term: number, data = `e${index}`): Entry => ({
  index,
  term,
  type: 'normal',
  data: bytes(data),
});
const range = (lo: number, hi: number, term: number) =>
  Array.from({ length: hi - lo + 1 }, (_, i) => entry(lo + i, term));

let dir: string;
const opened: LogStorage[] = [];
const openLog = (opts = {}) => {
  const s = LogStorage.open(dir, opts);
  opened.push(s);
  return s;
};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kvkit-log-'));
});
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Opens the raw LMDB file behind the storage's back, to damage it like a disk would. */
async function tamper(change: (log: ReturnType<ReturnType<typeof open>['openDB']>) => void) {
  const root = open({ path: join(dir, 'raft.mdb'), maxDbs: 4 });
  const log = root.openDB({ name: 'log', encoding: 'binary' });
  root.transactionSync(() => change(log));
  await root.flushed;
  await root.close();
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
    await s.close();
    opened.length = 0;

    const r = openLog();
    expect(r.isNew()).toBe(false);
    expect(r.identity()).toEqual({ nodeId: 'n1', clusterId: 'c1', initialCluster: 'n1=a' });
    expect(r.initialState()).toEqual({
      hardState: { term: 2, vote: 'n2', commit: 8 },
      confState: { voters: ['n1', 'n2'], learners: [] },
    });
    expect(r.firstIndex()).toBe(5);
    expect(r.lastIndex()).toBe(10);
    expect(r.term(4)).toBe(2);
    expect(r.entries(5, 11).map((e) => [e.index, e.term, new TextDecoder().decode(e.data)])).toEqual(
      range(5, 10, 2).map((e) => [e.index, e.term, `e${e.index}`]),
    );
    const snap = r.snapshot();
    expect(snap.metadata).toEqual({ index: 6, term: 2, confState: { voters: ['n1', 'n2'], learners: [] } });
    expect(new TextDecoder().decode(snap.data)).toBe('image@6');
  });

  it('stores a snapshot image given in parts, and reads it back whole or in parts', async () => {
    const s = openLog();
    await s.persist({ snapshot: null, entries: range(1, 4, 1), hardState: null }, true);
    await s.createSnapshot(3, { voters: ['n1'], learners: [] }, [bytes('head|'), bytes('body')], 1);
    await s.close();
    opened.length = 0;
    const r = openLog();
    expect(new TextDecoder().decode(r.snapshot().data)).toBe('head|body');
    expect(r.snapshotParts().map((p) => new TextDecoder().decode(p))).toEqual(['head|', 'body']);
  });

  it('keeps a commit-only hard state change in memory until the next write or close', async () => {
    const s = openLog();
    await s.persist(
      { snapshot: null, entries: range(1, 5, 1), hardState: { term: 1, vote: 'n1', commit: 2 } },
      true,
    );
    await s.persist({ snapshot: null, entries: [], hardState: { term: 1, vote: 'n1', commit: 4 } }, false);
    // Not written yet: a raw reader still sees commit 2.
    const root = open({ path: join(dir, 'raft.mdb'), maxDbs: 4 });
    const meta = root.openDB({ name: 'meta', encoding: 'binary' });
    const { decodeMeta } = await import('../../src/raft/runtime/record-codec.js');
    expect(decodeMeta<{ commit: number }>(meta.getBinary('hardState') as Uint8Array, 'hs').commit).toBe(2);
    await root.close();
    await s.close();
    opened.length = 0;
    expect(openLog().initialState().hardState).toEqual({ term: 1, vote: 'n1', commit: 4 });
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
    const s = openLog({ cacheBytes: 100 });
    await s.persist({ snapshot: null, entries: range(1, 10, 1), hardState: null }, true);
    await s.persist({ snapshot: null, entries: range(6, 7, 2), hardState: null }, true);
    expect(s.lastIndex()).toBe(7);
    expect(s.entries(1, 8).map((e) => e.term)).toEqual([1, 1, 1, 1, 1, 2, 2]);
    // Each entry counts 26 bytes (2 data + 24 overhead): 60 bytes fit two, never less than one.
    expect(s.entries(1, 8, 60).map((e) => e.index)).toEqual([1, 2]);
    expect(s.entries(6, 8, 1).map((e) => e.index)).toEqual([6]);
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
    await s.close();
    opened.length = 0;
    const r = openLog();
    expect([r.firstIndex(), r.lastIndex(), r.term(20)]).toEqual([21, 21, 3]);
    expect(r.initialState().confState.voters).toEqual(['a', 'b', 'c']);
    expect(new TextDecoder().decode(r.snapshot().data)).toBe('leader image');
  });

  it('reports a corrupt tail entry at start and leaves the file untouched', async () => {
    const s = openLog();
    await s.persist(
      { snapshot: null, entries: range(1, 5, 1), hardState: { term: 1, vote: null, commit: 4 } },
      true,
    );
    await s.close();
    opened.length = 0;
    await tamper((log) => {
      const record = Buffer.from(encodeEntry(entry(5, 1, 'torn')));
      record[record.length - 1] ^= 0xff; // a flipped bit
      log.putSync(5, record);
    });
    const size = statSync(join(dir, 'raft.mdb')).size;
    expect(() => openLog()).toThrow(LogCorruptError);
    expect(() => openLog()).toThrow(
      /log entry 5: checksum mismatch \(the last entry: a torn or corrupt tail\)/,
    );
    expect(statSync(join(dir, 'raft.mdb')).size).toBe(size);
  });

  it('reports a missing entry in the middle of the log', async () => {
    const s = openLog();
    await s.persist({ snapshot: null, entries: range(1, 5, 1), hardState: null }, true);
    await s.close();
    opened.length = 0;
    await tamper((log) => log.removeSync(3));
    expect(() => openLog()).toThrow(/log entries 3\.\.3 are missing/);
  });

  it('reports an entry stored under the wrong index', async () => {
    const s = openLog();
    await s.persist({ snapshot: null, entries: range(1, 3, 1), hardState: null }, true);
    await s.close();
    opened.length = 0;
    await tamper((log) => log.putSync(2, encodeEntry(entry(3, 1))));
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
    await tamper((log) => log.removeSync(5));
    expect(() => openLog()).toThrow(/commit index 5 is beyond the last log entry 4/);
  });

  it('reports a truncated file instead of crashing on it', async () => {
    const s = openLog();
    await s.persist({ snapshot: null, entries: range(1, 3000, 1), hardState: null }, true);
    await s.close();
    opened.length = 0;
    const path = join(dir, 'raft.mdb');
    const size = statSync(path).size;
    truncateSync(path, Math.floor(size / 2));
    expect(() => openLog()).toThrow(/is truncated/);
    truncateSync(path, 100);
    expect(() => openLog()).toThrow(/not a valid LMDB file/);
  });

  it('refuses a second open of the same data dir', () => {
    openLog();
    expect(() => LogStorage.open(dir)).toThrow(/is in use by this process/);
  });
});
