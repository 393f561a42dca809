import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeRequest } from '../../src/raft/kv/index.js';
import { NodeCluster } from './raft-node-cluster.js';
import { waitFor } from './support.js';

/** Raw garbage proposed through the Raft core reaches every replica's state machine. */
describe('a 3-node cluster given entries that are not commands', () => {
  let cluster: NodeCluster;
  beforeAll(async () => {
    cluster = await NodeCluster.start(3);
  }, 60_000);
  afterAll(async () => {
    await cluster?.close();
  }, 30_000);

  it('refuses them with INVALID_ARGUMENT on every replica, diverges nowhere and keeps serving', async () => {
    const leader = await cluster.leader();
    const follower = [...cluster.nodes.values()].find((n) => n !== leader);
    await leader.store.put('before', 'x');
    const garbage = [
      new Uint8Array([0xc1, 0xc1, 0xc1]),
      new Uint8Array(64).fill(0xff),
      encodeRequest({ cmd: { op: 'format-disk', key: 'k' } } as never),
      encodeRequest({ cmd: { op: 'put', key: { nested: true }, value: 'text' } } as never),
    ];
    for (const data of garbage) {
      // Through the leader and through a follower (forwarded by the core).
      for (const node of [leader, follower]) {
        const result = await node?.replica.propose(data);
        expect(result).toMatchObject({ ok: false, code: 'INVALID_ARGUMENT' });
      }
    }
    await leader.store.put('after', 'y');
    const index = leader.status().appliedIndex;
    await waitFor(
      () => [...cluster.nodes.values()].every((n) => n.status().appliedIndex >= index),
      'every replica applied the garbage and the write after it',
    );
    for (const node of cluster.nodes.values()) {
      const store = node.openStore();
      const keys = (await store.list('')).map((p) => p.key);
      expect(keys).toEqual(['after', 'before']);
      await store.close();
    }
    // Nobody logged an apply failure: the refusal is an answer, not an error.
    expect(cluster.logs.filter((l) => /failed to apply/.test(l))).toEqual([]);
  }, 60_000);
});
