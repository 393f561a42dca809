/**
 * Declares the simulated-cluster suites: each test file calls `describeSimulatedClusters` with
 * its own seed range (separate files so vitest runs them on several workers). A red test names
 * the exact command that replays each failing seed.
 */
import { describe, expect, it } from 'vitest';
import { runSimulation, type SimulationResult } from '../../src/raft/sim/simulation.js';

type Totals = { clusters: number } & SimulationResult['stats'];

/**
 * The verdict is the seeds', never the machine's speed: small tests (~0.7 s each on an idle core)
 * keep the worker's event loop turning, and the deadline only catches a simulation that never
 * ends, even with both cores busy with something else (~10x slower than idle).
 */
const SEEDS_PER_TEST = 10;
const BATCH_TIMEOUT_MS = 600_000;

/** Runs seeds [from, to] with `nodes` initial voters, adding to `totals`; returns one line per failure. */
function runSeeds(nodes: number, from: number, to: number, totals: Partial<Totals>): string[] {
  const failures: string[] = [];
  for (let seed = from; seed <= to; seed++) {
    const r = runSimulation({ seed, nodes });
    totals.clusters = (totals.clusters ?? 0) + 1;
    for (const [name, count] of Object.entries(r.stats) as [keyof Totals, number][]) {
      totals[name] = (totals[name] ?? 0) + count;
    }
    if (!r.ok) failures.push(`${r.failure}\n    replay: ${r.replay}`);
  }
  return failures;
}

/**
 * Whole clusters under every fault (loss, duplication, delay, partitions, crashes, membership
 * changes, leadership transfers), each node running kvkit's real replicated key space, clients
 * retrying through shared sessions, and in half the seeds TTL keys the leader's lease clock
 * revokes. Raft's and the key space's invariants are checked after every event, the client
 * history for linearizability at the end of each run.
 */
export function describeSimulatedClusters(nodes: number, from: number, to: number): void {
  describe(`simulated ${nodes}-node clusters, seeds ${from}..${to}`, () => {
    const totals: Partial<Totals> = {};

    for (let lo = from; lo <= to; lo += SEEDS_PER_TEST) {
      const hi = Math.min(to, lo + SEEDS_PER_TEST - 1);
      it(
        `seeds ${lo}..${hi} keep every invariant, converge and stay linearizable`,
        () => {
          const failures = runSeeds(nodes, lo, hi, totals);
          expect(failures, `failing seeds:\n  ${failures.join('\n  ')}`).toEqual([]);
        },
        BATCH_TIMEOUT_MS,
      );
    }

    it('exercised every kind of fault, retry and lease, and the driver merged, sent early and pipelined', () => {
      const t = totals as Totals;
      expect(t.clusters).toBe(to - from + 1);
      expect(t.ops).toBeGreaterThan(t.clusters * 50);
      expect(t.crashes).toBeGreaterThan(t.clusters);
      expect(t.partitions).toBeGreaterThan(t.clusters);
      expect(t.snapshotsInstalled).toBeGreaterThan(t.clusters / 10);
      expect(t.confChanges).toBeGreaterThan(t.clusters / 2);
      expect(t.leadersElected).toBeGreaterThan(t.clusters * 2);
      // Retries that reached the log twice, some after the session forgot their answer.
      expect(t.duplicatesAnswered).toBeGreaterThan(t.clusters);
      expect(t.duplicatesRefused).toBeGreaterThan(t.clusters / 10);
      expect(t.leasesRevoked).toBeGreaterThan(t.clusters * 2);
      // The production driver's paths ran: merging per peer, early send, pipelined writes.
      expect(t.messagesMerged).toBeGreaterThan(t.clusters * 5);
      expect(t.messagesSentEarly).toBeGreaterThan(t.clusters * 100);
      expect(t.writesPipelined).toBeGreaterThan(t.clusters * 2);
    });
  });
}
