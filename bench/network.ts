/**
 * Network-state benchmark (`npm run bench:network`): bit-sequence allocations/s, task
 * allocations/s through allocate() per store, and the time to allocate a 60,000-replica service
 * on a /16. Prints a table and writes bench/results/network-<time>.json.
 *
 * Stores: memory, local, and an embedded 3-node Raft cluster (callers inside the leader), or
 * instead a running cluster when KVKIT_BENCH_RAFT is its raft:// URL. KVKIT_BENCH_REPLICAS
 * overrides 60000.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createStore, registeredBackends, type Store, startLocalCluster } from '../src/index.js';
import { BitSequence, openNetworkState } from '../src/network-state/index.js';
import { printTable, writeResults } from './lib/measure.js';

interface Row {
  subject: string;
  op: string;
  ops: number;
  seconds: number;
  opsPerSec: number;
  [key: string]: unknown;
}

const rows: Row[] = [];
const REPLICAS = Number(process.env.KVKIT_BENCH_REPLICAS ?? 60_000);

function record(subject: string, op: string, ops: number, ms: number): void {
  const row = { subject, op, ops, seconds: Math.round(ms) / 1000, opsPerSec: Math.round(ops / (ms / 1000)) };
  rows.push(row);
  console.log(
    `${subject.padEnd(12)} ${op.padEnd(34)} ${String(row.opsPerSec).padStart(10)}/s  (${row.seconds} s)`,
  );
}

/** Serial allocation over a /16, refilled when full: the IPAM hot path. */
function bitSequenceSerial(): void {
  const size = 65_536;
  let ops = 0;
  const started = performance.now();
  while (performance.now() - started < 1000) {
    const seq = new BitSequence(size);
    let cursor: number | bigint = 1;
    for (let i = 0; i < size - 2; i++) {
      const bit = seq.allocate({ from: 1, to: size - 2, cursor });
      cursor = (bit as number) + 1;
      ops++;
    }
  }
  record('bitseq', 'serial allocate (/16)', ops, performance.now() - started);
}

/** Allocate and free at random positions: fragmented maps (many runs). */
function bitSequenceChurn(): void {
  const size = 65_536;
  const seq = new BitSequence(size);
  const held: number[] = [];
  for (let i = 0; i < size / 2; i++)
    held.push(seq.allocate({ cursor: Math.floor(Math.random() * size) }) as number);
  let ops = 0;
  const started = performance.now();
  while (performance.now() - started < 1000) {
    for (let i = 0; i < 10_000; i++) {
      const k = Math.floor(Math.random() * held.length);
      seq.unset(held[k]);
      held[k] = seq.allocate({ cursor: Math.floor(Math.random() * size) }) as number;
      ops++;
    }
  }
  record('bitseq', `fragmented alloc+free (${seq.runCount} runs)`, ops, performance.now() - started);
}

/** One big service: createService, then one allocate() pass; times both. */
async function bigService(subject: string, store: Store, replicas: number): Promise<void> {
  const net = await openNetworkState(store, { prefix: `bench-${replicas}` });
  try {
    await net.createNetwork({ name: 'big', subnets: [{ subnet: '10.128.0.0/16' }] });
    const t0 = performance.now();
    await net.createService({ name: 'huge', networks: ['big'], replicas });
    const t1 = performance.now();
    const result = await net.allocate();
    const t2 = performance.now();
    if (result.allocated !== replicas) throw new Error(`allocated ${result.allocated} of ${replicas}`);
    record(subject, `createService ${replicas} tasks`, replicas, t1 - t0);
    record(subject, `allocate() ${replicas} tasks`, replicas, t2 - t1);
    record(subject, `${replicas}-replica service on /16, total`, replicas, t2 - t0);
    await net.removeService('huge');
  } finally {
    await net.close();
  }
}

async function withStore(subject: string, open: () => Promise<{ store: Store; done: () => Promise<void> }>) {
  const { store, done } = await open();
  try {
    await bigService(subject, store, 5_000);
    await bigService(subject, store, REPLICAS);
  } finally {
    await done();
  }
}

bitSequenceSerial();
bitSequenceChurn();
await withStore('memory', async () => {
  const store = await createStore('memory:');
  return { store, done: () => store.close() };
});
if (registeredBackends().includes('local')) {
  await withStore('local', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvkit-bench-net-'));
    const store = await createStore(`local://${dir}`);
    return {
      store,
      done: async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
}
const raftUrl = process.env.KVKIT_BENCH_RAFT;
if (raftUrl) {
  await withStore('raft://', async () => {
    const store = await createStore(raftUrl);
    return { store, done: () => store.close() };
  });
} else {
  // The default home of network state: an embedded 3-node cluster, callers inside the leader.
  await withStore('raft-embedded', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvkit-bench-net-raft-'));
    const cluster = await startLocalCluster({ size: 3, dataDir: dir, logger: () => {} });
    const leader = await cluster.leader();
    return {
      store: leader.store,
      done: async () => {
        await cluster.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
}

printTable('network state', rows);
console.log(`\nresults: ${writeResults('network', { replicas: REPLICAS, rows })}`);
