import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RaftClientStore } from '../../src/backends/raft/index.js';
import { ProcessCluster } from './processes.js';
import { expectLinearizable, RegisterWorkload } from './workload.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const text = (v: Uint8Array) => new TextDecoder().decode(v);

/** Prints a line into the test output (operation counts for the closing note). */
const report = (line: string) => process.stdout.write(`[raft-cluster] ${line}\n`);

describe('3 kvkit raft node processes under faults', () => {
  let cluster: ProcessCluster;

  beforeAll(async () => {
    // Snapshots every 300 entries, 50 kept: compaction runs many times under the faults.
    cluster = await ProcessCluster.start(3, { snapshotEvery: 300, keepEntries: 50 });
    await cluster.leader();
  }, 120_000);
  afterAll(async () => {
    await cluster?.close();
  }, 60_000);

  /** Clients spread over the nodes (each starts on a different one and fails over). */
  async function clients(n: number, connectTimeoutMs?: number): Promise<RaftClientStore[]> {
    const ids = [...cluster.specs.keys()];
    return Promise.all(
      Array.from({ length: n }, (_, i) =>
        cluster.client([...ids.slice(i % ids.length), ...ids.slice(0, i % ids.length)], connectTimeoutMs),
      ),
    );
  }

  it('stays linearizable through kill -9, restarts, SIGSTOP/SIGCONT and partitions, losing no acknowledged write', async () => {
    // Four patient clients, and two that give up after 1 s: their writes cut short by a
    // fault are indeterminate (recorded as never answered), which the checker must allow for.
    const stores = [...(await clients(4)), ...(await clients(2, 1000))];
    const workload = new RegisterWorkload(stores, ['reg/a', 'reg/b', 'reg/c', 'reg/d'], 'acklog', 5);
    const faults: string[] = [];
    const others = (id: string) => [...cluster.specs.keys()].filter((x) => x !== id);
    try {
      await sleep(1500);

      let leader = await cluster.leader();
      faults.push(`kill -9 leader ${leader}`);
      await cluster.kill9(leader);
      await sleep(2000);
      await cluster.restart(leader);
      await sleep(1000);

      const follower = others(await cluster.leader())[0];
      faults.push(`kill -9 follower ${follower}`);
      await cluster.kill9(follower);
      await sleep(1500);
      await cluster.restart(follower);
      await sleep(1000);

      leader = await cluster.leader();
      faults.push(`SIGSTOP leader ${leader} for 2.5 s`);
      cluster.proc(leader).signal('SIGSTOP');
      await sleep(2500);
      cluster.proc(leader).signal('SIGCONT');
      await sleep(1500);

      leader = await cluster.leader();
      faults.push(`partition leader ${leader} from ${others(leader).join(',')} for 2.5 s`);
      cluster.proc(leader).fault(`block ${others(leader).join(' ')}`);
      await sleep(2500);
      cluster.proc(leader).fault('heal');
      await sleep(1500);

      const lone = others(await cluster.leader())[1];
      faults.push(`partition follower ${lone} for 2 s, then kill -9 it while partitioned`);
      cluster.proc(lone).fault('isolate');
      await sleep(2000);
      await cluster.kill9(lone);
      await cluster.restart(lone);
      await sleep(2000);
      // The history must be rich enough to judge, however slow the machine: the clients go on
      // (the cluster healed) until it is, under a generous deadline.
      const enough = () => workload.stats.ok > 1000 && workload.stats.acked.length > 100;
      const deadline = Date.now() + 240_000;
      while (!enough() && Date.now() < deadline) await sleep(250);
    } finally {
      await workload.stop();
    }

    const { history, stats } = workload;
    const checkMs = expectLinearizable(history, report);

    // Every acknowledged append is there, read through a fresh client.
    const check = await cluster.client();
    const present = new Set((await check.list('acklog')).map((p) => p.key));
    const lost = stats.acked.filter((k) => !present.has(k));
    expect(lost).toEqual([]);
    expect(stats.acked.length).toBeGreaterThan(100);
    // Enough answered operations for the check to mean something; how many depends on the
    // machine's speed (under a load of 20 on 2 cores, ~500), so the bar stays low.
    expect(stats.ok).toBeGreaterThan(200);

    report(`faults: ${faults.join('; ')}`);
    report(
      `linearizability: ${history.length} ops in the history (${stats.ok} ok, ${stats.indeterminate} indeterminate writes, ` +
        `${stats.failedReads} failed reads dropped), checked in ${checkMs} ms; ${stats.acked.length} acknowledged appends, 0 lost`,
    );
  }, 600_000);

  it('brings a follower that was down past compaction up to date with a snapshot', async () => {
    const leader = await cluster.leader();
    const victim = [...cluster.specs.keys()].find((id) => id !== leader) as string;
    await cluster.kill9(victim);
    const writer = await cluster.client([leader, ...[...cluster.specs.keys()].filter((id) => id !== leader)]);
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        for (let i = 0; i < 120; i++) await writer.put(`snap/w${w}-${i}`, `v${i}`);
      }),
    );
    const proc = await cluster.restart(victim);
    await proc.waitLine(/installed a snapshot from the leader at index \d+/, 60_000);
    // Read from the restarted node alone, locally (no quorum round): it holds everything.
    const local = await cluster.client([victim]);
    let count = 0;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const pair = await local.get('snap/w7-119', { consistent: false }).catch(() => null);
      if (pair && text(pair.value) === 'v119') break;
      await sleep(100);
    }
    count = (await local.list('snap')).length;
    expect(count).toBe(960);
    report(
      `snapshot catch-up: ${victim} was down for 960 writes (snapshot every 300, 50 kept) and caught up by snapshot`,
    );
  }, 120_000);

  it('keeps a raft:// watch going through the kill of the node it is connected to, ending at the true state', async () => {
    const ids = [...cluster.specs.keys()];
    const target = ids[0];
    const watcherStore = await cluster.client([target, ...ids.slice(1)]);
    const writer = await cluster.client([ids[1], ids[2], ids[0]]);
    const stop = new AbortController();
    let last: string[] = [];
    let updates = 0;
    const watching = (async () => {
      for await (const list of watcherStore.watchTree('watched', { signal: stop.signal })) {
        last = list.map((p) => `${p.key}=${text(p.value)}`);
        updates++;
      }
    })();
    for (let i = 0; i < 30; i++) await writer.put(`watched/k${i % 5}`, `v${i}`);
    await cluster.kill9(target);
    for (let i = 30; i < 60; i++) await writer.put(`watched/k${i % 5}`, `v${i}`);
    await writer.delete('watched/k0');
    await cluster.restart(target);
    const expected = (await writer.list('watched')).map((p) => `${p.key}=${text(p.value)}`);
    const deadline = Date.now() + 30_000;
    while (JSON.stringify(last) !== JSON.stringify(expected) && Date.now() < deadline) await sleep(50);
    stop.abort();
    await watching.catch(() => {});
    expect(last).toEqual(expected);
    report(
      `watch failover: ${updates} watchTree updates, ended at the final state after the kill of ${target}`,
    );
  }, 120_000);

  it('exits cleanly on SIGTERM', async () => {
    const id = [...cluster.specs.keys()][2];
    expect(await cluster.stop(id)).toBe(0);
    expect(cluster.proc(id).lines.at(-1)).toBe(`[${id}] stopped`);
  }, 60_000);
});
