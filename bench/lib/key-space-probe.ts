/**
 * The replicated key space alone (no log, no network), at a size: how long its longest single
 * write takes while it grows (the rehash stall of one large hash table shows up here), what
 * it holds in memory, and how long a snapshot image of it takes to write and to restore.
 *
 *   npx tsx bench/lib/key-space-probe.ts [KEYS=1000000] [VALUE_BYTES=100]
 *
 * Reports figures, asserts nothing about time (a busy machine makes them larger, not wrong).
 * Prints one JSON line.
 */
import { performance } from 'node:perf_hooks';
import { encodeRequest } from '../../src/raft/kv/commands.js';
import { KeyTable } from '../../src/raft/kv/key-table.js';
import { KvStateMachine } from '../../src/raft/kv/state-machine.js';
import { ImageRestorer, imageChunks } from '../../src/raft/runtime/snapshot-image.js';

const MiB = 2 ** 20;

export interface KeySpaceProbe {
  keys: number;
  /** The key table alone: the longest single insert (ms, wall clock: a busy machine adds its own pauses). */
  maxInsertMs: number;
  /** The most keys one insert re-placed in the key → slot tables (machine-independent). */
  largestRebuild: number;
  loadMs: number;
  /** CPU time (this process, all threads) of the load, the snapshot, the restore. */
  loadCpuMs: number;
  snapshotCpuMs: number;
  restoreCpuMs: number;
  /** The longest single apply while loading (ms). */
  maxApplyMs: number;
  /** Which key that was (its number). */
  maxApplyAt: number;
  heapUsedMiB: number;
  heapTotalMiB: number;
  /** ArrayBuffers (value slabs, typed arrays). */
  arrayBuffersMiB: number;
  rssMiB: number;
  imageMiB: number;
  snapshotMs: number;
  restoreMs: number;
  /** The longest single restore push (a 1 MiB chunk). */
  maxRestorePushMs: number;
  rssAfterRestoreMiB: number;
}

function cpuMs(since?: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since);
  return Math.round((u.user + u.system) / 1000);
}

/** Inserts into a bare KeyTable: the longest single insert and the largest rebuild. */
function probeTable(keys: number, value: Uint8Array): { maxInsertMs: number; largestRebuild: number } {
  const table = new KeyTable();
  let maxInsertMs = 0;
  for (let i = 0; i < keys; i++) {
    const key = `mem/${String(i).padStart(8, '0')}`;
    const t0 = performance.now();
    table.set(key, { value, mod: i, create: i, lease: 0 });
    maxInsertMs = Math.max(maxInsertMs, performance.now() - t0);
  }
  return { maxInsertMs: Math.round(maxInsertMs * 10) / 10, largestRebuild: table.largestRebuild };
}

export function probeKeySpace(keys: number, valueBytes = 100): KeySpaceProbe {
  const value = Buffer.alloc(valueBytes, 'v');
  const table = probeTable(keys, value);
  globalThis.gc?.();
  const sm = new KvStateMachine();
  let cpu = process.cpuUsage();
  let maxApplyMs = 0;
  let maxApplyAt = -1;
  const loadStart = performance.now();
  for (let i = 0; i < keys; i++) {
    // Encoded as a client would send it: the value arrives inside a larger buffer.
    const command = encodeRequest({
      client: 'probe',
      seq: i + 1,
      cmd: { op: 'put', key: `mem/${String(i).padStart(8, '0')}`, value },
    });
    const t0 = performance.now();
    sm.apply(command, { index: i + 1, term: 1 });
    const took = performance.now() - t0;
    if (took > maxApplyMs) {
      maxApplyMs = took;
      maxApplyAt = i;
    }
  }
  const loadMs = performance.now() - loadStart;
  const loadCpuMs = cpuMs(cpu);
  globalThis.gc?.();
  const loaded = process.memoryUsage();

  cpu = process.cpuUsage();
  const snapStart = performance.now();
  const parts: Uint8Array[] = [];
  for (const chunk of imageChunks({ members: {} }, sm)) parts.push(chunk);
  const image = Buffer.concat(parts);
  parts.length = 0;
  const snapshotMs = performance.now() - snapStart;
  const snapshotCpuMs = cpuMs(cpu);

  const target = new KvStateMachine();
  cpu = process.cpuUsage();
  const restoreStart = performance.now();
  const restorer = new ImageRestorer(target, { index: keys, term: 1 });
  let maxRestorePushMs = 0;
  for (let at = 0; at < image.byteLength; at += MiB) {
    const t0 = performance.now();
    restorer.push(image.subarray(at, Math.min(image.byteLength, at + MiB)));
    maxRestorePushMs = Math.max(maxRestorePushMs, performance.now() - t0);
  }
  restorer.finish();
  const restoreMs = performance.now() - restoreStart;
  const restoreCpuMs = cpuMs(cpu);
  if (target.size !== keys) throw new Error(`restored ${target.size} keys of ${keys}`);
  const last = target.get(`mem/${String(keys - 1).padStart(8, '0')}`);
  if (!last || Buffer.compare(last.value, value) !== 0) throw new Error('restore lost a value');
  const imageMiB = image.byteLength / MiB;
  globalThis.gc?.();
  const round = (x: number) => Math.round(x * 10) / 10;
  return {
    keys,
    ...table,
    loadMs: Math.round(loadMs),
    loadCpuMs,
    snapshotCpuMs,
    restoreCpuMs,
    maxApplyMs: round(maxApplyMs),
    maxApplyAt,
    heapUsedMiB: round(loaded.heapUsed / MiB),
    heapTotalMiB: round(loaded.heapTotal / MiB),
    arrayBuffersMiB: round(loaded.arrayBuffers / MiB),
    rssMiB: round(loaded.rss / MiB),
    imageMiB: round(imageMiB),
    snapshotMs: Math.round(snapshotMs),
    restoreMs: Math.round(restoreMs),
    maxRestorePushMs: round(maxRestorePushMs),
    rssAfterRestoreMiB: round(process.memoryUsage().rss / MiB),
  };
}

if (process.argv[1] === import.meta.filename) {
  const keys = Number(process.argv[2] ?? 1_000_000);
  const valueBytes = Number(process.argv[3] ?? 100);
  process.stdout.write(`${JSON.stringify(probeKeySpace(keys, valueBytes))}\n`);
}
