/**
 * Declares the simulated gossip clusters: each test file runs its own seed range (separate
 * files so vitest spreads them over workers). A red test names the command that replays
 * each failing seed.
 */
import { describe, expect, it } from 'vitest';
import { type GossipSimulationResult, runGossipSimulation } from '../../src/gossip/sim/simulation.js';

type Totals = { clusters: number } & GossipSimulationResult['stats'];

/**
 * Whole clusters of 3-10 members on 1-3 networks under loss, duplication, delay,
 * partitions, crashes and restarts under the same name, clean leaves and rejoins, network
 * joins and leaves, slow members, with writes and deletes of shared keys throughout; the
 * invariants (isolation, no resurrected deletes) are checked after every event, eventual
 * agreement after healing. One test per 25 seeds; virtual time, so the generous timeout only
 * guards against a hang, never judges speed.
 */
export function describeGossipClusters(from: number, to: number): void {
  describe(`simulated gossip clusters, seeds ${from}..${to}`, () => {
    const totals: Partial<Totals> = {};

    for (let lo = from; lo <= to; lo += 25) {
      const hi = Math.min(to, lo + 24);
      it(`seeds ${lo}..${hi} keep isolation and every delete, and agree once healed`, () => {
        const failures: string[] = [];
        for (let seed = lo; seed <= hi; seed++) {
          const r = runGossipSimulation({ seed });
          totals.clusters = (totals.clusters ?? 0) + 1;
          for (const [name, count] of Object.entries(r.stats) as [keyof Totals, number][]) {
            totals[name] = (totals[name] ?? 0) + count;
          }
          if (!r.ok) failures.push(`${r.failure}\n    replay: ${r.replay}`);
        }
        expect(failures, `failing seeds:\n  ${failures.join('\n  ')}`).toEqual([]);
      }, 600_000);
    }

    it('exercised every kind of fault and both kinds of write', () => {
      const t = totals as Totals;
      expect(t.clusters).toBe(to - from + 1);
      expect(t.writes).toBeGreaterThan(t.clusters * 50);
      expect(t.deletes).toBeGreaterThan(t.clusters * 20);
      expect(t.deletesApplied).toBeGreaterThan(t.clusters * 20);
      expect(t.crashes).toBeGreaterThan(t.clusters);
      expect(t.restarts).toBeGreaterThan(t.clusters);
      expect(t.leaves).toBeGreaterThan(t.clusters / 4);
      expect(t.partitions).toBeGreaterThan(t.clusters);
      expect(t.networkChanges).toBeGreaterThan(t.clusters * 2);
      expect(t.declaredDead).toBeGreaterThan(t.clusters);
    });
  });
}
