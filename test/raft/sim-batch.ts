/**
 * Runs a range of simulator seeds and reports every failure with its replay command, so a
 * red test names the exact command that reproduces it.
 */
import { describe, expect, it } from 'vitest';
import { runSimulation, type SimulationResult } from '../../src/raft/sim/simulation.js';

export interface BatchTotals {
  clusters: number;
  ops: number;
  entriesCommitted: number;
  snapshotsInstalled: number;
  confChanges: number;
  crashes: number;
  partitions: number;
  leadersElected: number;
}

export function emptyTotals(): BatchTotals {
  return {
    clusters: 0,
    ops: 0,
    entriesCommitted: 0,
    snapshotsInstalled: 0,
    confChanges: 0,
    crashes: 0,
    partitions: 0,
    leadersElected: 0,
  };
}

/** Runs seeds [from, to] with `nodes` initial voters; returns one line per failure. */
export function runSeeds(nodes: number, from: number, to: number, totals: BatchTotals): string[] {
  const failures: string[] = [];
  for (let seed = from; seed <= to; seed++) {
    const r: SimulationResult = runSimulation({ seed, nodes });
    totals.clusters++;
    totals.ops += r.stats.ops;
    totals.entriesCommitted += r.stats.entriesCommitted;
    totals.snapshotsInstalled += r.stats.snapshotsInstalled;
    totals.confChanges += r.stats.confChanges;
    totals.crashes += r.stats.crashes;
    totals.partitions += r.stats.partitions;
    totals.leadersElected += r.stats.leadersElected;
    if (!r.ok) failures.push(`${r.failure}\n    replay: ${r.replay}`);
  }
  return failures;
}

/** Splits [from, to] into chunks of `size` seeds (one test each, so each has its own timeout). */
export function seedChunks(from: number, to: number, size: number): [number, number][] {
  const chunks: [number, number][] = [];
  for (let lo = from; lo <= to; lo += size) chunks.push([lo, Math.min(to, lo + size - 1)]);
  return chunks;
}

/**
 * Whole clusters under every fault (loss, duplication, delay, partitions, crashes, membership
 * changes, leadership transfers). Every Raft invariant is checked after every event and the
 * client history for linearizability at the end of each run. One test per 50 seeds; a
 * failure message lists the replay command of every failing seed.
 */
export function describeSimulatedClusters(nodes: number, from: number, to: number): void {
  describe(`simulated ${nodes}-node clusters, seeds ${from}..${to}`, () => {
    const totals = emptyTotals();

    for (const [lo, hi] of seedChunks(from, to, 50)) {
      it(`seeds ${lo}..${hi} keep every invariant, converge and stay linearizable`, () => {
        const failures = runSeeds(nodes, lo, hi, totals);
        expect(failures, `failing seeds:\n  ${failures.join('\n  ')}`).toEqual([]);
      });
    }

    it('exercised every kind of fault', () => {
      expect(totals.clusters).toBe(to - from + 1);
      expect(totals.ops).toBeGreaterThan(totals.clusters * 50);
      expect(totals.crashes).toBeGreaterThan(totals.clusters);
      expect(totals.partitions).toBeGreaterThan(totals.clusters);
      expect(totals.snapshotsInstalled).toBeGreaterThan(totals.clusters / 10);
      expect(totals.confChanges).toBeGreaterThan(totals.clusters / 2);
      expect(totals.leadersElected).toBeGreaterThan(totals.clusters * 2);
    });
  });
}
