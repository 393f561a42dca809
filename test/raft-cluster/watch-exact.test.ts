import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessCluster } from './processes.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const text = (v: Uint8Array) => new TextDecoder().decode(v);
const report = (line: string) => process.stdout.write(`[raft-watch] ${line}\n`);

/**
 * Watches proven exact (issue 12): the raft backend declares `watchCoalesces: false`, so a
 * watch through raft:// must deliver every committed state of its key, in order, nothing
 * skipped and nothing twice, even while the node it is connected to is killed with SIGKILL
 * and restarted. Checked against the writer's log of acknowledged writes.
 */
describe('a raft:// watch under kill -9 of its node', () => {
  let cluster: ProcessCluster;
  beforeAll(async () => {
    cluster = await ProcessCluster.start(3, { snapshotEvery: 200, keepEntries: 20 });
    await cluster.leader();
  }, 120_000);
  afterAll(async () => {
    await cluster?.close();
  }, 60_000);

  it('delivers every committed state of its key in order, nothing skipped or repeated, through kill -9 of its node', async () => {
    const key = 'exact/k';
    // A raft:// client follows the leader (its hello names it), so the node this watch is on
    // is the leader: each round below kills that node with SIGKILL and later restarts it.
    const watcherStore = await cluster.client();
    expect(watcherStore.capabilities.watchCoalesces).toBe(false);
    const writer = await cluster.client();
    await writer.put(key, 'w0');

    const delivered: (string | null)[] = [];
    const revisions: number[] = [];
    const stop = new AbortController();
    let watchError: unknown = null;
    const watching = (async () => {
      try {
        for await (const pair of watcherStore.watch(key, { signal: stop.signal })) {
          delivered.push(pair ? text(pair.value) : null);
          revisions.push(pair?.lastIndex ?? -1);
        }
      } catch (err) {
        // A watch error is a failure of this test, not something to wait out.
        if (!stop.signal.aborted) watchError = err;
      }
    })();
    const deadline = Date.now() + 60_000;
    while (delivered.length === 0 && watchError === null && Date.now() < deadline) await sleep(10);
    expect(delivered).toEqual(['w0']);

    // The writer's log: each write in order, acknowledged or not (an unanswered write may or
    // may not have committed; an acknowledged one certainly did). Every 25th write deletes.
    const writes: { value: string | null; acked: boolean }[] = [{ value: 'w0', acked: true }];
    let n = 0;
    const write = async () => {
      n++;
      const value = n % 25 === 0 ? null : `w${n}`;
      try {
        if (value === null) await writer.delete(key);
        else await writer.put(key, value);
        writes.push({ value, acked: true });
      } catch {
        writes.push({ value, acked: false });
      }
    };
    const killed: string[] = [];
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 40; i++) await write();
      const victim = await cluster.leader();
      killed.push(victim);
      await cluster.kill9(victim);
      for (let i = 0; i < 40; i++) await write();
      await cluster.restart(victim);
      await cluster.leader();
    }
    for (let i = 0; i < 30; i++) await write();
    const final = await writer.get(key).catch(() => null);
    const finalValue = final ? text(final.value) : null;
    const settled = Date.now() + 60_000;
    while (delivered.at(-1) !== finalValue && watchError === null && Date.now() < settled) await sleep(50);
    stop.abort();
    await watching;
    expect(watchError).toBeNull();

    // In order, nothing repeated: revisions strictly increase (a delete has none).
    const withRevision = revisions.filter((r) => r >= 0);
    expect(withRevision).toEqual([...withRevision].sort((a, b) => a - b));
    expect(new Set(withRevision).size).toBe(withRevision.length);
    // Every delivered state is one the writer wrote, in the order it wrote them (puts write
    // unique values; a repeated delete would skip the puts between two deletes).
    const order = new Map<string | null, number[]>();
    for (const [i, w] of writes.entries()) order.set(w.value, [...(order.get(w.value) ?? []), i]);
    let at = -1;
    const matched = new Set<number>();
    for (const value of delivered) {
      const next = (order.get(value) ?? []).find((i) => i > at);
      expect(next, `delivered ${value} out of the writer's order`).toBeDefined();
      at = next as number;
      matched.add(at);
    }
    // Nothing skipped: every acknowledged write (puts and deletes) is a delivered state.
    const missing = writes.map((w, i) => ({ ...w, i })).filter((w) => w.acked && !matched.has(w.i));
    expect(missing).toEqual([]);
    expect(delivered.at(-1)).toBe(finalValue);
    report(
      `${writes.length} writes (${writes.filter((w) => !w.acked).length} unanswered), ${delivered.length} states delivered ` +
        `in order, none skipped or repeated, through kill -9 of the watch's node ${killed.join(', ')}`,
    );
  }, 600_000);
});
