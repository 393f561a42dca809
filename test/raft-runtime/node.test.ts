import { afterEach, describe, expect, it } from 'vitest';
import { RaftReplicaNode } from '../../src/raft/runtime/replica-node.js';
import { isKVError } from '../../src/store/errors.js';
import { TestCluster } from './cluster.js';
import { command } from './register-machine.js';
import { eventually, freePorts, tempDir, waitFor } from './support.js';

const propose = (node: RaftReplicaNode, key: string, value: string, timeoutMs?: number) =>
  node.propose(command({ op: 'put', key, value }), { timeoutMs }) as Promise<{ index: number }>;

/**
 * A put as a client makes it: proposed again while the answer is a timeout or no leader (a
 * leader change on a busy machine drops a forwarded proposal; that one may still apply, so
 * a key can appear twice in the history). With `timeoutMs`, one attempt only.
 */
async function put(node: RaftReplicaNode, key: string, value: string, timeoutMs?: number) {
  if (timeoutMs !== undefined) return propose(node, key, value, timeoutMs);
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      return await propose(node, key, value);
    } catch (err) {
      const retryable = isKVError(err) && (err.code === 'TIMEOUT' || err.code === 'NOT_REACHABLE');
      if (!retryable || Date.now() > deadline) throw err;
    }
  }
}

let cluster: TestCluster | null = null;
afterEach(async () => {
  await cluster?.close();
  cluster = null;
});

describe('RaftReplicaNode, 3 nodes in one process', () => {
  it('elects one leader and applies proposals from any node everywhere, in one order', async () => {
    cluster = await TestCluster.start(3);
    const leader = await cluster.leader();
    const [f1, f2] = cluster.followers(leader);
    const writes: [RaftReplicaNode, string, string][] = [
      [leader, 'a', '1'],
      [f1, 'b', '2'],
      [f2, 'c', '3'],
      ...Array.from({ length: 30 }, (_, i): [RaftReplicaNode, string, string] => [
        [leader, f1, f2][i % 3],
        `k${i}`,
        `v${i}`,
      ]),
    ];
    const results = await Promise.all(writes.map(([node, key, value]) => put(node, key, value)));
    const last = Math.max(...results.map((r) => r.index));
    await cluster.applied(last);
    const histories = [...cluster.members.values()].map((m) => m.sm.history);
    // Each proposer got the result of its own entry (distinct entries, each holding its write).
    expect(new Set(results.map((r) => r.index)).size).toBe(results.length);
    for (const [i, r] of results.entries()) {
      expect(histories[0]).toContain(`${r.index}:${writes[i][1]}=${writes[i][2]}`);
    }
    expect(new Set(histories[0].map((h) => h.slice(h.indexOf(':') + 1))).size).toBe(33);
    expect(histories[1]).toEqual(histories[0]);
    expect(histories[2]).toEqual(histories[0]);
    for (const m of cluster.members.values()) expect(m.sm.values.get('b')).toBe('2');
    expect(leader.members().map((m) => [m.id, m.voter])).toEqual([
      ['n1', true],
      ['n2', true],
      ['n3', true],
    ]);
    expect(cluster.logs.some((l) => /^\[n\d\] became leader in term \d+$/.test(l))).toBe(true);
  });

  it('announces every node’s client address through the log', async () => {
    cluster = await TestCluster.start(3);
    const leader = await cluster.leader();
    await waitFor(
      () => leader.members().every((m) => m.clientAddr === `client-of-${m.id}:1`),
      'client addresses in members()',
    );
    for (const n of cluster.running()) {
      await waitFor(() => n.members().every((m) => m.clientAddr !== null), `addresses on ${n.id}`);
    }
  });

  it('shares one fsync among proposals made together (group commit)', async () => {
    cluster = await TestCluster.start(3);
    const leader = await cluster.leader();
    const storage = (leader as unknown as { storage: { syncs: number } }).storage;
    const before = storage.syncs;
    await Promise.all(Array.from({ length: 200 }, (_, i) => put(leader, `g${i}`, 'x')));
    const syncs = storage.syncs - before;
    expect(syncs).toBeGreaterThan(0);
    expect(syncs).toBeLessThan(20);
  });

  it('serves a linearizable read barrier on a follower', async () => {
    cluster = await TestCluster.start(3);
    const leader = await cluster.leader();
    const follower = cluster.followers(leader)[0];
    const followerSm = cluster.member(follower.id).sm;
    for (let i = 0; i < 20; i++) {
      await put(leader, 'r', String(i));
      await follower.readBarrier();
      expect(followerSm.values.get('r')).toBe(String(i));
    }
    const n = 64;
    await Promise.all(Array.from({ length: n }, () => follower.readBarrier()));
  });

  it('keeps working after the leader stops, and the old leader catches up on restart', async () => {
    cluster = await TestCluster.start(3);
    const leader = await cluster.leader();
    await put(leader, 'before', '1');
    await cluster.stopNode(leader.id);
    const next = await cluster.leader();
    expect(next.id).not.toBe(leader.id);
    expect(next.status().term).toBeGreaterThan(1);
    const r = await put(next, 'after', '2');
    const back = await cluster.startNode(leader.id);
    await cluster.applied(r.index);
    expect(cluster.member(back.id).sm.values.get('after')).toBe('2');
    expect(cluster.member(back.id).sm.values.get('before')).toBe('1');
  });

  it('restores everything from disk when the whole cluster restarts', async () => {
    cluster = await TestCluster.start(3, { snapshotEvery: 25, keepEntries: 5 });
    const leader = await cluster.leader();
    for (let i = 0; i < 60; i++) await put(leader, `k${i % 7}`, `v${i}`);
    const expected = new Map(cluster.member(leader.id).sm.values);
    await Promise.all(['n1', 'n2', 'n3'].map((id) => cluster?.stopNode(id)));
    await Promise.all(['n1', 'n2', 'n3'].map((id) => cluster?.startNode(id)));
    const again = await cluster.leader();
    // A state machine rebuilt from the stored snapshot plus the log after it.
    const r = await put(again, 'fresh', 'yes');
    await cluster.applied(r.index);
    for (const m of cluster.members.values()) {
      expect(m.sm.restores).toBe(1);
      for (const [k, v] of expected) expect(m.sm.values.get(k)).toBe(v);
      expect(m.sm.values.get('fresh')).toBe('yes');
    }
  });

  it('brings a follower that was down past compaction up to date with a snapshot', async () => {
    cluster = await TestCluster.start(3, { snapshotEvery: 20, keepEntries: 5 });
    const leader = await cluster.leader();
    const lagging = cluster.followers(leader)[0].id;
    await cluster.stopNode(lagging);
    let last = 0;
    for (let i = 0; i < 80; i++) last = (await put(leader, `s${i}`, `v${i}`)).index;
    const lagNode = await cluster.startNode(lagging);
    await cluster.applied(last, [lagNode]);
    const sm = cluster.member(lagging).sm;
    expect(sm.restores).toBe(1); // installed the leader's snapshot, did not replay from 1
    expect(sm.values.get('s79')).toBe('v79');
    expect(sm.history).toEqual(cluster.member(leader.id).sm.history);
  });

  it('adds a node as a learner, promotes it once caught up, and it serves reads', async () => {
    cluster = await TestCluster.start(3);
    const leader = await cluster.leader();
    for (let i = 0; i < 30; i++) await put(leader, `j${i}`, 'x');
    const follower = cluster.followers(leader)[0];
    const joiner = await cluster.addJoiner('n4', () => follower);
    await waitFor(() => leader.members().some((m) => m.id === 'n4' && m.voter), 'n4 promoted to voter');
    expect(
      cluster.logs.some((l) => l.includes('[n1] promoting n4') || l.includes('promoting n4 to voter')),
    ).toBe(true);
    const r = await put(joiner, 'from-n4', 'hi');
    await cluster.applied(r.index);
    await joiner.readBarrier();
    const sm = cluster.member('n4').sm;
    expect(sm.values.get('j29')).toBe('x');
    expect(sm.history).toEqual(cluster.member(leader.id).sm.history);
    expect(joiner.members().find((m) => m.id === 'n1')?.peerAddr).toBe(cluster.member('n1').peerAddr);
    // Restarting the joined node does not ask to join again.
    await cluster.stopNode('n4');
    await cluster.startNode('n4');
    const r2 = await put(leader, 'after-restart', '1');
    await cluster.applied(r2.index);
  });

  it('removes a dead member and keeps a quorum of the rest', async () => {
    cluster = await TestCluster.start(3);
    const leader = await cluster.leader();
    const victim = cluster.followers(leader)[0].id;
    await cluster.stopNode(victim);
    await leader.removeMember(victim);
    expect(leader.members().map((m) => m.id)).not.toContain(victim);
    // Two voters left: both are needed, and both are up.
    const r = await put(leader, 'after-remove', '1');
    await cluster.applied(r.index);
  });

  it('lets the leader leave: the others elect a new one', async () => {
    cluster = await TestCluster.start(3);
    const leader = await cluster.leader();
    await put(leader, 'x', '1');
    await leader.leave();
    expect(leader.closed).toBe(true);
    const next = await cluster.leader();
    expect(next.id).not.toBe(leader.id);
    expect(next.members().map((m) => m.id)).not.toContain(leader.id);
    await put(next, 'y', '2');
  });

  it('lets a follower leave (it takes over leadership to apply its own removal)', async () => {
    cluster = await TestCluster.start(3);
    const leader = await cluster.leader();
    await put(leader, 'x', '1');
    const follower = cluster.followers(leader)[0];
    await follower.leave();
    expect(follower.closed).toBe(true);
    const next = await cluster.leader();
    await waitFor(() => !next.members().some((m) => m.id === follower.id), 'removal applied');
    await put(next, 'y', '2');
  });

  it('removes a follower through its own admin (kvkit raft remove sent to that node)', async () => {
    cluster = await TestCluster.start(3);
    const leader = await cluster.leader();
    const follower = cluster.followers(leader)[0];
    await follower.removeMember(follower.id);
    const next = await cluster.leader();
    expect(next.members().map((m) => m.id)).not.toContain(follower.id);
    await cluster.stopNode(follower.id);
    await put(next, 'z', '3');
  });

  it('transfers leadership on request', async () => {
    cluster = await TestCluster.start(3);
    const leader = await cluster.leader();
    await put(leader, 'x', '1');
    const target = cluster.followers(leader)[0];
    await eventually(async () => {
      leader.transferLeadership(target.id);
      await waitFor(() => target.isLeader(), 'transfer', 1000);
    }, 'leadership transfer');
    await put(target, 'y', '2');
  });

  it('fails proposals and reads without a quorum: NOT_REACHABLE or TIMEOUT, never a hang', async () => {
    cluster = await TestCluster.start(3);
    const leader = await cluster.leader();
    const follower = cluster.followers(leader)[0];
    follower.transport.faults.isolate();
    const p = put(follower, 'cut-off', '1', 1500).catch((e) => e);
    const b = follower.readBarrier({ timeoutMs: 1500 }).catch((e) => e);
    const [pe, be] = await Promise.all([p, b]);
    expect(isKVError(pe, 'TIMEOUT') || isKVError(pe, 'NOT_REACHABLE')).toBe(true);
    expect(isKVError(be, 'TIMEOUT') || isKVError(be, 'NOT_REACHABLE')).toBe(true);
    follower.transport.faults.heal();
    await eventually(() => put(follower, 'healed', '1', 2000), 'proposal after heal');
  });

  it('leaves no socket, server or timer behind after close', async () => {
    const count = () => {
      const counts: Record<string, number> = {};
      for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
      return counts;
    };
    const before = count();
    const local = await TestCluster.start(3);
    const leader = await local.leader();
    await put(leader, 'a', '1');
    await Promise.all([leader.readBarrier(), put(local.followers(leader)[0], 'b', '2')]);
    await local.close();
    await new Promise((r) => setTimeout(r, 50));
    const after = count();
    for (const kind of ['TCPServerWrap', 'TCPSocketWrap', 'TCPWrap', 'Timeout', 'Immediate']) {
      expect(after[kind] ?? 0, kind).toBeLessThanOrEqual(before[kind] ?? 0);
    }
  });

  it('rejects calls with CLOSED after close', async () => {
    cluster = await TestCluster.start(1);
    const node = await cluster.leader();
    await put(node, 'a', '1');
    await node.close();
    await expect(put(node, 'b', '2')).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(node.readBarrier()).rejects.toMatchObject({ code: 'CLOSED' });
  });
});

describe('RaftReplicaNode start-up errors', () => {
  it('refuses a data dir from another cluster, a wrong peer list, a port in use and a wrong node id', async () => {
    cluster = await TestCluster.start(1);
    const n1 = cluster.member('n1');
    await put(await cluster.leader(), 'keep', 'me');
    await cluster.stopNode('n1');
    const base = cluster.options(n1);
    const [otherPort, spare] = await freePorts(2);

    await expect(
      RaftReplicaNode.start({ ...base, initialCluster: `n1=${n1.peerAddr},n9=127.0.0.1:${otherPort}` }),
    ).rejects.toThrow(
      /belongs to cluster [0-9a-f]+ \(n1=127\.0\.0\.1:\d+\), but the initial cluster given is/,
    );
    await expect(
      RaftReplicaNode.start({ ...base, id: 'n2', initialCluster: `n2=${n1.peerAddr}` }),
    ).rejects.toThrow(/belongs to node n1, not n2/);
    await expect(
      RaftReplicaNode.start({ ...base, peerAddr: `127.0.0.1:${spare}`, initialCluster: undefined }),
    ).rejects.toThrow(/peer address is 127\.0\.0\.1:\d+, but its cluster knows n1 at/);

    // Nothing was overwritten: the node still starts with its data.
    const node = await cluster.startNode('n1');
    await cluster.leader();
    await node.readBarrier();
    expect(cluster.member('n1').sm.values.get('keep')).toBe('me');

    const other = tempDir('kvkit-raft-other-');
    try {
      // n1 is running on its peer address: a second node cannot bind it.
      await expect(
        RaftReplicaNode.start({
          ...base,
          dataDir: other.path,
          peerAddr: n1.peerAddr,
          initialCluster: `n1=${n1.peerAddr}`,
        }),
      ).rejects.toThrow(/peer address 127\.0\.0\.1:\d+ is already in use/);
      await cluster.stopNode('n1');
      await expect(
        RaftReplicaNode.start({ ...base, dataDir: other.path, initialCluster: `n1=127.0.0.1:${spare}` }),
      ).rejects.toThrow(/the initial cluster lists n1 at 127\.0\.0\.1:\d+, but its peer address is/);
      await expect(
        RaftReplicaNode.start({
          ...base,
          id: 'n7',
          dataDir: other.path,
          initialCluster: `n1=${n1.peerAddr}`,
        }),
      ).rejects.toThrow(/node n7 is not in the initial cluster/);
      await expect(
        RaftReplicaNode.start({ ...base, dataDir: other.path, initialCluster: undefined }),
      ).rejects.toThrow(/is empty: give initialCluster to bootstrap a cluster, or join/);
    } finally {
      other.remove();
    }
  });
});
