/**
 * Metrics and health of a real 3-process Raft cluster (`kvkit raft start --metrics-addr`),
 * scraped with a real HTTP client and read as the exposition format: etcd's names with their
 * types, the values a working cluster shows, and what a survivor shows when the leader and
 * another node are killed (no leader, /health 503) and when a quorum is back (a leader again,
 * one more leader change seen).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { delay, nextWithin } from '../../src/conformance/helpers.js';
import { ProcessCluster } from '../raft-cluster/processes.js';
import { type Exposition, parseExposition } from './exposition.js';

const METRICS = ['--metrics-addr', '127.0.0.1:0'];
const IDS = ['n1', 'n2', 'n3'];

/** Where each node serves its metrics, read from its "started" line. */
const metricsAddr = new Map<string, string>();
let cluster: ProcessCluster;

/** Notes where a started node serves its metrics. */
function noteMetricsAddr(id: string): void {
  const line = proc(id).lines.find((l) => /\] started: peer/.test(l)) ?? '';
  const match = /metrics http:\/\/([^/\s]+)\/metrics/.exec(line);
  if (!match) throw new Error(`${id} did not say where its metrics are: ${line}`);
  metricsAddr.set(id, match[1]);
}

const proc = (id: string) => cluster.proc(id);

async function scrape(id: string): Promise<Exposition> {
  const res = await fetch(`http://${metricsAddr.get(id)}/metrics`, { signal: AbortSignal.timeout(10_000) });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

async function health(id: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`http://${metricsAddr.get(id)}/health`, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.json() };
}

/** Polls until `check` holds (returns its last value), failing after `ms`. */
async function until<T>(
  what: string,
  get: () => Promise<T>,
  check: (v: T) => boolean,
  ms = 60_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await get().catch(() => undefined);
    if (value !== undefined && check(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`${what} did not happen within ${ms} ms (last: ${JSON.stringify(value)})`);
    await delay(100);
  }
}

describe('metrics of a 3-process raft cluster', () => {
  beforeAll(async () => {
    cluster = await ProcessCluster.start(IDS.length, { extraArgs: METRICS });
    for (const id of IDS) noteMetricsAddr(id);
    await cluster.leader();
  }, 180_000);

  afterAll(async () => {
    await cluster?.close();
  }, 60_000);

  it("serves etcd's metric names with their types on every node", async () => {
    const expected: Record<string, string> = {
      kvkit_server_has_leader: 'gauge',
      kvkit_server_is_leader: 'gauge',
      kvkit_server_leader_changes_seen_total: 'counter',
      kvkit_server_proposals_committed_total: 'gauge',
      kvkit_server_proposals_applied_total: 'gauge',
      kvkit_server_proposals_pending: 'gauge',
      kvkit_server_proposals_failed_total: 'counter',
      kvkit_server_read_indexes_failed_total: 'counter',
      kvkit_disk_wal_fsync_duration_seconds: 'histogram',
      kvkit_network_peer_round_trip_time_seconds: 'histogram',
      kvkit_mvcc_db_total_size_in_bytes: 'gauge',
      kvkit_mvcc_watcher_total: 'gauge',
      kvkit_server_client_connections: 'gauge',
      kvkit_server_id: 'gauge',
      process_cpu_seconds_total: 'counter',
    };
    for (const id of IDS) {
      const m = await scrape(id);
      for (const [name, type] of Object.entries(expected)) {
        expect({ id, name, type: m.types.get(name) }).toEqual({ id, name, type });
      }
      expect(m.value('kvkit_server_id', { server_id: id })).toBe(1);
    }
  });

  it('shows a working cluster: one leader, commits applied, durable writes timed, peers timed, watchers and clients counted', async () => {
    const store = await cluster.client(['n1']);
    for (let i = 0; i < 20; i++) await store.put(`metrics/k${i}`, 'v');
    const stop = new AbortController();
    const watch = store.watch('metrics/k0', { signal: stop.signal })[Symbol.asyncIterator]();
    await nextWithin(watch, 10_000);
    const leader = await cluster.leader();
    const all = await Promise.all(IDS.map((id) => scrape(id)));
    expect(all.map((m) => m.value('kvkit_server_has_leader'))).toEqual([1, 1, 1]);
    expect(all.reduce((sum, m) => sum + (m.value('kvkit_server_is_leader') ?? 0), 0)).toBe(1);
    for (const m of all) {
      expect(m.value('kvkit_server_leader_changes_seen_total')).toBeGreaterThanOrEqual(1);
      expect(m.value('kvkit_server_proposals_committed_total')).toBeGreaterThanOrEqual(20);
      expect(m.value('kvkit_server_proposals_applied_total')).toBeGreaterThan(0);
      expect(m.value('kvkit_server_proposals_pending')).toBe(0);
      expect(m.value('kvkit_disk_wal_fsync_duration_seconds_count')).toBeGreaterThan(0);
      expect(m.value('kvkit_disk_wal_fsync_duration_seconds_bucket', { le: '+Inf' })).toBe(
        m.value('kvkit_disk_wal_fsync_duration_seconds_count'),
      );
      expect(m.value('kvkit_mvcc_db_total_size_in_bytes')).toBeGreaterThan(0);
    }
    const onLeader = all[IDS.indexOf(leader)];
    for (const peer of IDS.filter((id) => id !== leader)) {
      expect(
        onLeader.value('kvkit_network_peer_round_trip_time_seconds_count', { To: peer }),
      ).toBeGreaterThan(0);
    }
    // The raft:// client moved to the leader's client port; its watch listens there.
    const sum = (name: string) => all.reduce((total, m) => total + (m.value(name) ?? 0), 0);
    expect(sum('kvkit_server_client_connections')).toBeGreaterThanOrEqual(1);
    expect(onLeader.value('kvkit_mvcc_watcher_total')).toBeGreaterThanOrEqual(1);
    stop.abort();
    for (const id of IDS) expect(await health(id)).toEqual({ status: 200, body: { health: 'true' } });
    for (const path of ['livez', 'readyz']) {
      expect((await fetch(`http://${metricsAddr.get('n1')}/${path}`)).status).toBe(200);
    }
  });

  it('drops has_leader and answers /health 503 when the leader and another node die, and counts the next leader', async () => {
    const leader = await cluster.leader();
    const [other, survivor] = IDS.filter((id) => id !== leader);
    const before = (await scrape(survivor)).value('kvkit_server_leader_changes_seen_total') ?? 0;
    await cluster.kill9(leader);
    await cluster.kill9(other);
    await until(
      'the survivor losing its leader',
      () => scrape(survivor),
      (m) => m.value('kvkit_server_has_leader') === 0,
    );
    const down = await health(survivor);
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({ health: 'false' });
    expect((await fetch(`http://${metricsAddr.get(survivor)}/readyz`)).status).toBe(503);

    await cluster.restart(other); // a quorum again: the two elect a leader
    noteMetricsAddr(other);
    const after = await until(
      'a new leader on the survivor',
      () => scrape(survivor),
      (m) => m.value('kvkit_server_has_leader') === 1,
    );
    expect({ before, after: after.value('kvkit_server_leader_changes_seen_total') }).toEqual({
      before,
      after: expect.any(Number),
    });
    expect(after.value('kvkit_server_leader_changes_seen_total')).toBeGreaterThan(before);
    await until(
      'the survivor healthy again',
      () => health(survivor),
      (h) => h.status === 200,
    );
  });
});
