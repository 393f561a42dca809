/**
 * Soak: 1,000,000 keys of 100 bytes into a 3-node cluster of real node processes with the
 * default settings (100 ms ticks, a snapshot every 100,000 entries), through raft://. It
 * passes when no put failed and the cluster kept one leader in one term throughout (issue 15:
 * snapshots must not stall a node long enough to cost the cluster its leader). No timing
 * assertion: it reports how long it took.
 *
 *   npx tsx test/raft-cluster/load-1m.soak.ts [--keys 1000000] [--callers 256]
 *
 * Exits 0 on success, 1 on failure (the reason on stderr). Run by .ci/run after npm test.
 */
import { parseArgs } from 'node:util';
import type { ReplicaStatus } from '../../src/raft/replica.js';
import { ProcessCluster } from './processes.js';

const { values } = parseArgs({
  options: { keys: { type: 'string', default: '1000000' }, callers: { type: 'string', default: '256' } },
});
const KEYS = Number(values.keys);
const CALLERS = Number(values.callers);
const VALUE = Buffer.alloc(100, 'v');
const log = (line: string) => process.stderr.write(`[load-1m] ${line}\n`);

async function main(): Promise<number> {
  const started = performance.now();
  const cluster = await ProcessCluster.start(3, { tickMs: 100 });
  try {
    const leader = await cluster.leader(60_000);
    const first = await cluster.status();
    log(`leader ${leader} in term ${first.term}; loading ${KEYS} keys with ${CALLERS} callers`);
    // Every node's view, polled while loading: any term change (or leader change) is a failure.
    const seen: ReplicaStatus[] = [];
    const probes = await Promise.all([...cluster.specs.keys()].map((id) => cluster.client([id], 5000)));
    let polling = true;
    const poller = (async () => {
      while (polling) {
        for (const probe of probes) {
          const status = await probe.cluster.status().catch(() => null);
          if (status) seen.push(status);
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    const writers = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        cluster.client(
          [...cluster.specs.keys()].slice(i % 3).concat([...cluster.specs.keys()].slice(0, i % 3)),
        ),
      ),
    );
    let next = 0;
    let failed = 0;
    let firstFailure: unknown = null;
    let done = 0;
    const loadStart = performance.now();
    await Promise.all(
      Array.from({ length: CALLERS }, async (_, c) => {
        const store = writers[c % writers.length];
        while (next < KEYS) {
          const i = next++;
          try {
            await store.put(`load/${String(i).padStart(8, '0')}`, VALUE);
          } catch (err) {
            failed++;
            firstFailure ??= err;
          }
          if (++done % 100_000 === 0) {
            log(`${done} puts, ${Math.round(done / ((performance.now() - loadStart) / 1000))}/s`);
          }
        }
      }),
    );
    const loadS = (performance.now() - loadStart) / 1000;
    polling = false;
    await poller;
    const last = await cluster.status();
    const terms = new Set([first.term, last.term, ...seen.map((s) => s.term)]);
    const leaders = new Set([
      first.leader,
      last.leader,
      ...seen.map((s) => s.leader).filter((l) => l !== null),
    ]);
    // The data is there: a sample of keys, read linearizably.
    const reader = await cluster.client();
    let missing = 0;
    for (let i = 0; i < KEYS; i += Math.max(1, Math.floor(KEYS / 1000))) {
      const pair = await reader.get(`load/${String(i).padStart(8, '0')}`).catch(() => null);
      if (pair?.value.byteLength !== 100) missing++;
    }
    const lastKey = await reader.get(`load/${String(KEYS - 1).padStart(8, '0')}`).catch(() => null);
    if (!lastKey) missing++;
    const snapshots = cluster.procs.get(leader)?.lines.filter((l) => /snapshot/.test(l)).length ?? 0;
    log(
      `loaded ${KEYS} keys in ${loadS.toFixed(1)} s (${Math.round(KEYS / loadS)}/s); failed puts ${failed}; ` +
        `terms seen ${[...terms].join(',')}; leaders seen ${[...leaders].join(',')}; sampled keys missing ${missing}; ` +
        `${seen.length} status probes; total ${((performance.now() - started) / 1000).toFixed(1)} s; snapshot log lines ${snapshots}`,
    );
    const problems: string[] = [];
    if (failed > 0) problems.push(`${failed} puts failed (first: ${String(firstFailure)})`);
    if (terms.size !== 1) problems.push(`the term changed: ${[...terms].join(' → ')}`);
    if (leaders.size !== 1) problems.push(`the leader changed: ${[...leaders].join(' → ')}`);
    if (missing > 0) problems.push(`${missing} sampled keys missing`);
    if (problems.length > 0) {
      log(`FAILED: ${problems.join('; ')}`);
      return 1;
    }
    log('passed: no failed put, one leader in one term');
    return 0;
  } finally {
    await cluster.close();
  }
}

process.exitCode = await main().catch((err) => {
  log(`FAILED: ${(err as Error)?.stack ?? err}`);
  return 1;
});
