import { describe, expect, it } from 'vitest';
import { emptyTotals, runSeeds, seedChunks } from './sim-batch.js';

// Whole 5-node clusters under every fault (loss, duplication, delay, partitions, crashes,
// membership changes, leadership transfers), seeds 1..500. Every Raft invariant is checked after
// every event and the client history for linearizability at the end of each run.
describe('simulated 5-node clusters, seeds 1..500', () => {
  const totals = emptyTotals();

  for (const [from, to] of seedChunks(1, 500, 50)) {
    it(`seeds ${from}..${to} keep every invariant, converge and stay linearizable`, () => {
      const failures = runSeeds(5, from, to, totals);
      expect(failures, `failing seeds:\n  ${failures.join('\n  ')}`).toEqual([]);
    });
  }

  it('exercised every kind of fault', () => {
    expect(totals.clusters).toBe(500);
    expect(totals.ops).toBeGreaterThan(totals.clusters * 50);
    expect(totals.crashes).toBeGreaterThan(totals.clusters);
    expect(totals.partitions).toBeGreaterThan(totals.clusters);
    expect(totals.snapshotsInstalled).toBeGreaterThan(totals.clusters / 10);
    expect(totals.confChanges).toBeGreaterThan(totals.clusters / 2);
    expect(totals.leadersElected).toBeGreaterThan(totals.clusters * 2);
  });
});
