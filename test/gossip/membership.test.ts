import { describe, expect, it } from 'vitest';
import { GossipCore } from '../../src/gossip/core/core.js';
import { startCluster } from './harness.js';

describe('SWIM membership with Lifeguard', () => {
  it('every member learns every other one through a single seed', () => {
    const t = startCluster({ nodes: 12 });
    for (const n of t.nodes) {
      expect(n.core.members().filter((m) => m.state === 'alive')).toHaveLength(12);
    }
  });

  it('a crashed member is declared dead by every other member', () => {
    const t = startCluster({ nodes: 10 });
    t.node('node-4').crash();
    t.until(
      () => t.nodes.filter((n) => n.up).every((n) => n.core.memberState('node-4') === 'dead'),
      60_000,
      'detection',
    );
    // A confirmed suspicion runs out after 4·log10(N) s, not earlier than the minimum.
    const deaths = t.events.filter((e) => e.event.kind === 'declared-dead');
    expect(deaths.length).toBeGreaterThan(0);
  });

  it('a member that leaves is seen as left, not dead', () => {
    const t = startCluster({ nodes: 6 });
    t.on('node-3', (c, now) => c.leave(now));
    t.until(() => t.events.some((e) => e.node === 'node-3' && e.event.kind === 'left'), 10_000, 'left event');
    t.node('node-3').crash();
    t.until(
      () => t.nodes.filter((n) => n.up).every((n) => n.core.memberState('node-3') === 'left'),
      30_000,
      'left',
    );
    t.run(30_000);
    expect(t.nodes.filter((n) => n.up).every((n) => n.core.memberState('node-3') === 'left')).toBe(true);
  });

  it('under 30 % packet loss no member is suspected: the TCP fallback ping answers for it (memberlist)', () => {
    const t = startCluster({ nodes: 30, lossRate: 0.3, seed: 7 });
    t.run(300_000);
    const suspected = t.events.filter((e) => e.event.kind === 'member' && e.event.state === 'suspect');
    expect(suspected).toHaveLength(0);
    expect(t.nodes.reduce((sum, n) => sum + n.core.stats().tcpFallbacks, 0)).toBeGreaterThan(0);
  });

  it('with TCP pings off, the same loss gets members suspected (what the fallback prevents)', () => {
    const t = startCluster({ nodes: 30, lossRate: 0.3, seed: 7, config: { tcpPings: false } });
    t.run(300_000);
    const suspected = t.events.filter((e) => e.event.kind === 'member' && e.event.state === 'suspect');
    expect(suspected.length).toBeGreaterThan(0);
    expect(t.nodes.reduce((sum, n) => sum + n.core.stats().tcpFallbacks, 0)).toBe(0);
  });

  it('estimates the packet loss it sees from its own direct probes (retransmits are stretched by it)', () => {
    const lossy = startCluster({ nodes: 30, lossRate: 0.2, seed: 3 });
    const clean = startCluster({ nodes: 30, seed: 3 });
    lossy.run(120_000);
    clean.run(120_000);
    const median = (t: typeof lossy) =>
      t.nodes.map((n) => n.core.stats().packetLoss).sort((a, b) => a - b)[t.nodes.length >> 1];
    expect(median(lossy)).toBeGreaterThan(0.05);
    expect(median(lossy)).toBeLessThan(0.35);
    expect(clean.nodes.every((n) => n.core.stats().packetLoss === 0)).toBe(true);
  });

  it('a falsely suspected member refutes with a higher incarnation and stays alive', () => {
    const t = startCluster({ nodes: 5 });
    // Cut node-2 off just long enough to be suspected, then heal before the suspicion runs out.
    t.cluster.network.partition([[t.node('node-2').addr]]);
    t.until(() => t.core('node-1').memberState('node-2') === 'suspect', 20_000, 'suspicion');
    t.cluster.network.heal();
    t.until(() => t.nodes.every((n) => n.core.memberState('node-2') === 'alive'), 30_000, 'refute');
    expect(t.core('node-2').stats().refutes).toBeGreaterThan(0);
    const incarnation =
      t
        .core('node-1')
        .members()
        .find((m) => m.name === 'node-2')?.incarnation ?? 0;
    expect(incarnation).toBeGreaterThan(0);
  });

  it('a member restarted under the same name is alive again everywhere', () => {
    const t = startCluster({ nodes: 6 });
    const node = t.node('node-5');
    node.crash();
    t.until(
      () => t.nodes.filter((n) => n.up).every((n) => n.core.memberState('node-5') === 'dead'),
      60_000,
      'death',
    );
    node.start([t.node('node-1').addr]);
    t.until(() => t.nodes.every((n) => n.core.memberState('node-5') === 'alive'), 30_000, 'return');
  });

  it('a join exchanges state with at most 3 of the given addresses at once (moby#47396)', () => {
    const core = new GossipCore({ name: 'joiner', addr: '10.9.9.9:7946', seed: 1, now: 0 });
    core.join(0, ['a:1', 'b:1', 'c:1', 'd:1', 'e:1', 'f:1']);
    expect(core.takeOutput().streams.map((s) => s.to)).toEqual(['a:1', 'b:1', 'c:1']);
  });

  it('a join that reaches nobody says so', () => {
    const core = new GossipCore({ name: 'joiner', addr: '10.9.9.9:7946', seed: 1, now: 0 });
    core.join(0, ['a:1']);
    const [stream] = core.takeOutput().streams;
    core.streamAnswer(10, stream.id, null, 'connection refused');
    const joined = core.takeOutput().events.find((e) => e.kind === 'joined');
    expect(joined).toMatchObject({ ok: false, contacted: 0 });
  });

  it('an unhealthy member stretches its own probes (Lifeguard local health)', () => {
    const t = startCluster({ nodes: 8 });
    const slow = t.node('node-8');
    slow.slowMs = 1500;
    let worst = 0;
    for (let s = 0; s < 60; s++) {
      t.run(1000);
      worst = Math.max(worst, slow.core.stats().awareness);
    }
    expect(worst).toBeGreaterThan(0);
    slow.slowMs = 0;
    t.run(60_000);
    expect(slow.core.stats().awareness).toBe(0);
  });

  it('idle members send only probes: no gossip packets when nothing changes', () => {
    const t = startCluster({ nodes: 10 });
    t.run(40_000);
    t.cluster.network.resetCounters();
    t.run(10_000);
    // One ping and one ack per member per second (plus rare push-pulls, which are streams).
    expect(t.cluster.network.totals.packets).toBeLessThanOrEqual(10 * 10 * 2 + 20);
  });
});
