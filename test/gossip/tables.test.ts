import { describe, expect, it } from 'vitest';
import { GossipCore } from '../../src/gossip/core/core.js';
import { encodeMessage, PacketBuilder, type TableMsg } from '../../src/gossip/core/messages.js';
import { bytes, startCluster, text } from './harness.js';

const T = 'endpoint_table';

describe('network-scoped tables (NetworkDB)', () => {
  it('an entry reaches every member of its network and no other member', () => {
    const t = startCluster({ nodes: 9, networksOf: (i) => (i % 3 === 0 ? [] : ['blue']) });
    t.run(3000);
    t.on('node-2', (c, now) => c.setEntry(now, 'blue', T, 'web.1', bytes('10.0.0.2')));
    t.until(() =>
      t.nodes.filter((n) => n.core.isOnNetwork('blue')).every((n) => n.core.getEntry('blue', T, 'web.1')),
    );
    t.run(5000);
    for (const n of t.nodes.filter((n) => !n.core.isOnNetwork('blue'))) {
      expect(n.core.getEntry('blue', T, 'web.1')).toBeNull();
      expect(n.core.networkStats().find((s) => s.network === 'blue')?.joined).toBe(false);
    }
    // No packet carrying blue's table traffic ever reached a member off the network.
    expect(t.events.filter((e) => e.event.kind === 'foreign')).toEqual([]);
  });

  it('a member on two networks learns both, each from that network only', () => {
    const t = startCluster({
      nodes: 6,
      networksOf: (i) => (i === 0 ? ['red', 'green'] : i < 3 ? ['red'] : ['green']),
    });
    t.run(3000);
    t.on('node-2', (c, now) => c.setEntry(now, 'red', T, 'r', bytes('red')));
    t.on('node-5', (c, now) => c.setEntry(now, 'green', T, 'g', bytes('green')));
    t.until(
      () =>
        t.core('node-1').getEntry('red', T, 'r') !== null &&
        t.core('node-1').getEntry('green', T, 'g') !== null,
    );
    t.run(3000);
    expect(t.core('node-5').getEntry('red', T, 'r')).toBeNull();
    expect(t.core('node-2').getEntry('green', T, 'g')).toBeNull();
  });

  it("hides a failed owner's entries without deleting them, and shows them again at once when it returns (moby#53141)", () => {
    const t = startCluster({ nodes: 5, networksOf: () => ['net'] });
    t.on('node-3', (c, now) => c.setEntry(now, 'net', T, 'task', bytes('10.0.0.3')));
    t.until(() => t.nodes.every((n) => n.core.getEntry('net', T, 'task') !== null));
    // A partition long enough for node-3 to be declared dead, not a crash: it keeps its state.
    t.cluster.network.partition([[t.node('node-3').addr]]);
    t.until(() => t.core('node-1').memberState('node-3') === 'dead', 60_000, 'death');
    expect(t.core('node-1').getEntry('net', T, 'task')).toBeNull();
    expect(t.core('node-1').networkStats()[0]).toMatchObject({ entries: 0, hidden: 1 });
    t.cluster.network.heal();
    t.until(() => t.core('node-1').memberState('node-3') === 'alive', 120_000, 'return');
    expect(text(t.core('node-1').getEntry('net', T, 'task'))).toBe('10.0.0.3');
  });

  it('removes the entries of a member that left cleanly', () => {
    const t = startCluster({ nodes: 5, networksOf: () => ['net'] });
    t.on('node-4', (c, now) => c.setEntry(now, 'net', T, 'task', bytes('x')));
    t.until(() => t.nodes.every((n) => n.core.getEntry('net', T, 'task') !== null));
    t.on('node-4', (c, now) => c.leave(now));
    t.until(
      () => t.nodes.slice(0, 3).every((n) => n.core.getEntry('net', T, 'task') === null),
      30_000,
      'removal',
    );
    expect(t.core('node-1').networkStats()[0]).toMatchObject({ entries: 0, hidden: 0 });
  });

  it('keeps a tombstone for a delete of a key never seen, so a late create cannot resurrect it (moby #49932)', () => {
    const t = startCluster({ nodes: 3, networksOf: () => ['net'] });
    t.on('node-1', (c, now) => c.deleteEntry(now, 'net', T, 'ghost'));
    t.run(5000);
    for (const n of t.nodes) expect(n.core.networkStats()[0].tombstones).toBe(1);
  });

  it('carries a tombstone remaining lifetime and never extends it (libnetwork#1944)', () => {
    const lifetime = 60_000;
    const t = startCluster({
      nodes: 4,
      networksOf: () => ['net'],
      config: { tombstoneLifetimeMs: lifetime },
    });
    t.on('node-1', (c, now) => c.setEntry(now, 'net', T, 'k', bytes('v')));
    t.run(3000);
    t.on('node-1', (c, now) => c.deleteEntry(now, 'net', T, 'k'));
    const deletedAt = t.cluster.queue.now;
    t.run(30_000);
    // A member that joins late learns the tombstone with what is left of its life, not a new one.
    const late = t.cluster.addNode('late');
    late.start([t.node('node-2').addr]);
    t.on('late', (c, now) => c.joinNetwork(now, 'net'));
    t.until(() => late.core.networkStats()[0]?.tombstones === 1, 30_000, 'tombstone at the late member');
    t.until(
      () => t.nodes.concat(late).every((n) => n.core.networkStats()[0].tombstones === 0),
      2 * lifetime,
      'reaping',
    );
    // Reaped everywhere within one lifetime (plus the 5 s reaper period) of the delete.
    expect(t.cluster.queue.now - deletedAt).toBeLessThanOrEqual(lifetime + 5000 + 1000);
  });

  it('refuses records of an owner the membership layer does not know (libnetwork #2013)', () => {
    const core = new GossipCore({ name: 'a', addr: 'a:1', seed: 1, now: 0 });
    core.joinNetwork(0, 'net');
    const forged: TableMsg = {
      type: 'table',
      network: 'net',
      table: T,
      key: 'k',
      owner: 'stranger',
      ltime: 1,
      deleted: false,
      residualMs: 0,
      value: bytes('evil'),
    };
    core.handlePacket(1, 'x:1', buildPacket(forged));
    expect(core.getEntry('net', T, 'k')).toBeNull();
  });

  it('does not relay by gossip what came by anti-entropy (libnetwork #2216)', () => {
    const t = startCluster({ nodes: 4, networksOf: (i) => (i < 3 ? ['net'] : []) });
    for (let i = 0; i < 200; i++) t.on('node-1', (c, now) => c.setEntry(now, 'net', T, `k${i}`, bytes('v')));
    t.run(10_000);
    // node-4 joins late: it gets the 200 records by a sync and queues none of them to relay.
    t.on('node-4', (c, now) => c.joinNetwork(now, 'net'));
    t.until(() => t.core('node-4').entries('net', T).length === 200, 30_000, 'sync');
    expect(
      t
        .core('node-4')
        .networkStats()
        .find((s) => s.network === 'net')?.queued,
    ).toBe(0);
  });

  it('syncs a joining member with at most 3 peers of the network (moby#47396)', () => {
    const t = startCluster({ nodes: 10, networksOf: (i) => (i < 9 ? ['net'] : []) });
    t.run(5000);
    const before = t.cluster.network.sent.get(t.node('node-10').addr)?.streams ?? 0;
    t.on('node-10', (c, now) => c.joinNetwork(now, 'net'));
    t.run(50);
    expect((t.cluster.network.sent.get(t.node('node-10').addr)?.streams ?? 0) - before).toBeLessThanOrEqual(
      3,
    );
  });

  it('a joiner whose first syncs are refused (its peers do not know it alive yet) syncs again soon, not a period later', () => {
    const t = startCluster({ nodes: 12, networksOf: () => ['net'] });
    for (const n of t.nodes)
      t.on(n.name, (c, now) => c.setEntry(now, 'net', T, `task.${n.name}`, bytes(n.name)));
    t.until(() => t.nodes.every((n) => n.core.entries('net', T).length === 12));
    // As startGossip does: join the network as soon as the cluster join answered.
    const late = t.cluster.addNode('node-13');
    let joined = false;
    t.cluster.onEvent((node, event) => {
      if (node !== late || event.kind !== 'joined' || joined) return;
      joined = true;
      node.host?.run((c, now) => c.joinNetwork(now, 'net'));
    });
    late.start([t.node('node-1').addr]);
    t.until(() => joined, 10_000, 'cluster join');
    // Well before the first periodic sync could run (half of the 30 s bulk sync interval).
    t.until(() => late.core.entries('net', T).length === 12, 10_000, 'the network entries at the joiner');
    expect(late.core.networkStats()[0].syncFailures).toBeGreaterThan(0);
  });

  it('sends digests, not the table, once members agree', () => {
    const t = startCluster({ nodes: 3, networksOf: () => ['net'] });
    for (let i = 0; i < 2000; i++)
      t.on(`node-${1 + (i % 3)}`, (c, now) =>
        c.setEntry(now, 'net', T, `k${i}`, bytes('0123456789'.repeat(5))),
      );
    t.until(() => t.nodes.every((n) => n.core.entries('net', T).length === 2000), 120_000, 'agreement');
    t.run(60_000);
    t.cluster.network.resetCounters();
    t.run(120_000);
    // A table of 2,000 × 50-byte values is ~150 KB; steady-state syncs move only bucket digests.
    const streamBytes = t.cluster.network.totals.streamBytes;
    expect(t.nodes.every((n) => n.core.networkStats()[0].syncs > 0)).toBe(true);
    expect(streamBytes).toBeLessThan(60_000);
  });

  it('breaks ties between owners at equal Lamport time by owner name', () => {
    const t = startCluster({ nodes: 2, networksOf: () => ['net'] });
    // Both write before hearing each other: equal clocks.
    t.on('node-1', (c, now) => c.setEntry(now, 'net', T, 'k', bytes('from 1')));
    t.on('node-2', (c, now) => c.setEntry(now, 'net', T, 'k', bytes('from 2')));
    t.run(5000);
    expect(text(t.core('node-1').getEntry('net', T, 'k'))).toBe('from 2');
    expect(text(t.core('node-2').getEntry('net', T, 'k'))).toBe('from 2');
  });

  it("deletes only the member's own record: another owner's version of the key still shows", () => {
    const t = startCluster({ nodes: 2, networksOf: () => ['net'] });
    t.on('node-1', (c, now) => c.setEntry(now, 'net', T, 'k', bytes('one')));
    t.run(2000);
    t.on('node-2', (c, now) => c.setEntry(now, 'net', T, 'k', bytes('two')));
    t.run(2000);
    t.on('node-2', (c, now) => c.deleteEntry(now, 'net', T, 'k'));
    t.run(2000);
    expect(text(t.core('node-1').getEntry('net', T, 'k'))).toBe('one');
    expect(t.core('node-1').entries('net', T)).toEqual([{ key: 'k', value: bytes('one'), owner: 'node-1' }]);
  });

  it('a restarted owner takes its entries back and can delete them', () => {
    const t = startCluster({ nodes: 4, networksOf: () => ['net'] });
    t.on('node-2', (c, now) => c.setEntry(now, 'net', T, 'k', bytes('v')));
    t.until(() => t.nodes.every((n) => n.core.getEntry('net', T, 'k') !== null));
    t.node('node-2').crash();
    t.until(() => t.core('node-1').memberState('node-2') === 'dead', 60_000, 'death');
    t.node('node-2').start([t.node('node-1').addr]);
    t.on('node-2', (c, now) => c.joinNetwork(now, 'net'));
    t.until(() => t.core('node-2').getEntry('net', T, 'k') !== null, 60_000, 'adoption');
    t.on('node-2', (c, now) => c.deleteEntry(now, 'net', T, 'k'));
    t.until(() => t.nodes.every((n) => n.core.getEntry('net', T, 'k') === null), 30_000, 'delete');
  });

  it('refuses values too large for one packet and writes on networks not joined', () => {
    const core = new GossipCore({ name: 'a', addr: 'a:1', seed: 1, now: 0 });
    core.joinNetwork(0, 'net');
    expect(() => core.setEntry(0, 'net', T, 'k', new Uint8Array(5000))).toThrow(
      expect.objectContaining({ code: 'VALUE_TOO_LARGE' }),
    );
    expect(() => core.setEntry(0, 'other', T, 'k', bytes('v'))).toThrow(
      expect.objectContaining({ code: 'NOT_ON_NETWORK' }),
    );
    expect(() => core.setEntry(0, 'net', '', 'k', bytes('v'))).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });

  it('leaving a network drops every record of it', () => {
    const t = startCluster({ nodes: 3, networksOf: () => ['net'] });
    t.on('node-1', (c, now) => c.setEntry(now, 'net', T, 'k', bytes('v')));
    t.until(() => t.core('node-3').getEntry('net', T, 'k') !== null);
    t.on('node-3', (c, now) => c.leaveNetwork(now, 'net'));
    expect(t.core('node-3').getEntry('net', T, 'k')).toBeNull();
    expect(
      t
        .core('node-3')
        .networkStats()
        .find((s) => s.network === 'net')?.joined,
    ).toBe(false);
  });
});

function buildPacket(msg: TableMsg): Uint8Array {
  const packet = new PacketBuilder(1400);
  packet.add(encodeMessage(msg));
  return packet.finish();
}
