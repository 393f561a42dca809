import { Resolver } from 'node:dns/promises';
import { describe, expect, it } from 'vitest';
import { startDnsServer } from '../../src/discovery/index.js';
import { type Gossip, startGossip } from '../../src/gossip/index.js';
import { type GossipTask, gossipDnsFeed, TaskPublisher } from '../../src/gossip/service-records.js';
import { eventually } from './member-processes.js';

const config = { probeIntervalMs: 200, probeTimeoutMs: 100, gossipIntervalMs: 50 };
const addr = (g: Gossip): string => `127.0.0.1:${g.address.port}`;

const task = (id: string, slot: number, ip: string, state = 'running'): GossipTask => ({
  id,
  serviceId: 'svc-web',
  service: 'web',
  slot,
  state,
  networks: [{ networkId: 'net-1', network: 'front', addresses: [`${ip}/24`], vip: '10.9.0.2/24' }],
});

async function lookup(resolver: Resolver, name: string): Promise<string[]> {
  try {
    return (await resolver.resolve4(name)).sort();
  } catch (err) {
    return [(err as { code?: string }).code ?? String(err)];
  }
}

describe('service discovery over gossip', () => {
  it("answers DNS from another member's published running tasks, and follows their changes and its crash", async () => {
    await using agent = await startGossip({ name: 'agent-1', bind: '127.0.0.1:0', config });
    const dnsMember = await startGossip({ name: 'dns-1', bind: '127.0.0.1:0', join: [addr(agent)], config });
    try {
      const publisher = new TaskPublisher(agent);
      publisher.update([
        task('t1', 1, '10.9.0.5'),
        task('t2', 2, '10.9.0.6'),
        task('t3', 3, '10.9.0.7', 'starting'),
      ]);
      await publisher.flushed();
      await using dns = await startDnsServer({
        listen: '127.0.0.1:0',
        feed: gossipDnsFeed(dnsMember, ['net-1']),
      });
      const resolver = new Resolver({ timeout: 2000, tries: 2 });
      resolver.setServers([`127.0.0.1:${dns.address.port}`]);

      await eventually(
        'tasks.web answers the two running tasks',
        async () => (await lookup(resolver, 'tasks.web')).join() === '10.9.0.5,10.9.0.6',
      );
      expect(await lookup(resolver, 'web')).toEqual(['10.9.0.2']);
      expect(await lookup(resolver, 'web.front')).toEqual(['10.9.0.2']);

      publisher.update([task('t2', 2, '10.9.0.6')]);
      await publisher.flushed();
      await eventually(
        'a stopped task leaves tasks.web',
        async () => (await lookup(resolver, 'tasks.web')).join() === '10.9.0.6',
      );

      // The agent crashes: its entries are hidden on the DNS member, so the names go.
      await agent.close();
      await eventually(
        'the crashed agent tasks are no longer answered',
        async () => (await lookup(resolver, 'tasks.web')).join() === 'ENOTFOUND',
      );
    } finally {
      await dnsMember.close();
    }
  }, 120_000);
});
