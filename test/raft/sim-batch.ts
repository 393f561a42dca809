/**
 * Runs a range of simulator seeds and reports every failure with its replay command, so a
 * red test names the exact command that reproduces it.
 */
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
