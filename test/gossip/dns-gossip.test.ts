/**
 * `kvkit dns serve --gossip` / startDnsServer({ gossip }): DNS answered from the endpoint tables
 * the agents publish, by the same rules as from the Store, and while the Store is unreachable.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type DnsServer, type Gossip, startDnsServer, startGossip } from '../../src/index.js';
import { KvkitProcess } from '../discovery/cli-process.js';
import { type DigAnswer, dig, digUntil, ipsOf, resolverAt } from '../discovery/dns/support.js';
import { type Swarm, startSwarm } from '../swarm/harness.js';
import { eventually } from './member-processes.js';
import { twoGossipAgents } from './store-keys.js';

const config = { probeIntervalMs: 200, probeTimeoutMs: 100, gossipIntervalMs: 50 };
const addr = (g: Gossip): string => `127.0.0.1:${g.address.port}`;

let swarm: Swarm | undefined;
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const undo of cleanup.splice(0).reverse()) await undo().catch(() => {});
  await swarm?.close();
  swarm = undefined;
});

/** What a resolver sees of one answer, TTLs aside. */
const shape = (a: DigAnswer) => ({
  status: a.status,
  answers: a.answers.map((r) => `${r.name} ${r.type} ${r.data}`).sort(),
});

describe('DNS from gossip', () => {
  it('answers every name, PTR, AAAA and case exactly as the Store-backed server does, and follows scaling', async () => {
    swarm = await startSwarm();
    const s = swarm;
    const { keys, g1 } = await twoGossipAgents(s);
    const member = await startGossip({ name: 'dns-1', bind: '127.0.0.1:0', join: [addr(g1)], keys, config });
    cleanup.push(() => member.close());
    await s.net.createService({ name: 'web', networks: ['mh_net'], replicas: 3, endpointMode: 'vip' });
    await s.net.createService({ name: 'api', networks: ['mh_net'], replicas: 2, endpointMode: 'dnsrr' });

    const fromStore: DnsServer = await startDnsServer({ store: s.store, listen: '127.0.0.1:0' });
    cleanup.push(() => fromStore.close());
    const fromGossip: DnsServer = await startDnsServer({ gossip: member, listen: '127.0.0.1:0' });
    cleanup.push(() => fromGossip.close());
    const [storePort, gossipPort] = [fromStore.address.port, fromGossip.address.port];

    for (const [name, count] of [
      ['tasks.web', 3],
      ['tasks.api', 2],
    ] as const) {
      for (const port of [storePort, gossipPort]) {
        const a = await digUntil(port, (x) => ipsOf(x).length === count, [name, 'A'], 90_000);
        expect(ipsOf(a), `${name} on ${port}`).toHaveLength(count);
      }
    }

    const tasks = (await s.net.listTasks()).filter((t) => t.state === 'running');
    const services = await s.net.listServices();
    const vip = services.find((x) => x.name === 'web')?.virtualIps[0]?.addr.split('/')[0] as string;
    const ptr = (ip: string) => ['-x', ip];
    const queries: string[][] = [
      ['web', 'A'],
      ['WeB.Mh_NeT', 'A'],
      ['tasks.web', 'A'],
      ['tasks.web.mh_net', 'A'],
      ['web', 'AAAA'],
      ['api', 'A'],
      ['api.mh_net', 'A'],
      ['tasks.api', 'A'],
      ['nothing-here', 'A'],
      ptr(vip),
      ...tasks.flatMap((t) => {
        const service = services.find((x) => x.id === t.serviceId)?.name as string;
        const ip = t.attachments[0].addresses[0].split('/')[0];
        return [[`${service}.${t.slot}.${t.id}`, 'A'], [`${service}.${t.slot}.${t.id}.mh_net`, 'A'], ptr(ip)];
      }),
    ];
    for (const q of queries) {
      const [a, b] = [await dig(storePort, ...q), await dig(gossipPort, ...q)];
      expect(shape(b), q.join(' ')).toEqual(shape(a));
    }
    expect((await dig(gossipPort, 'web', 'A')).answers.map((r) => r.data)).toEqual([vip]);

    // Node's resolver (no EDNS, TCP on truncation) agrees too.
    const resolver = resolverAt(gossipPort);
    expect((await resolver.resolve4('tasks.web')).sort()).toEqual(ipsOf(await dig(storePort, 'tasks.web')));

    await s.net.scaleService('web', 1);
    for (const port of [storePort, gossipPort]) {
      const a = await digUntil(port, (x) => ipsOf(x).length === 1, ['tasks.web', 'A'], 90_000);
      expect(ipsOf(a)).toHaveLength(1);
    }
    expect(shape(await dig(gossipPort, 'tasks.web'))).toEqual(shape(await dig(storePort, 'tasks.web')));
  }, 240_000);

  it('kvkit dns serve --gossip never opens the Store: names resolve while it is unreachable, and follow a crashed agent', async () => {
    swarm = await startSwarm();
    const s = swarm;
    const { keys, g1, w2 } = await twoGossipAgents(s);
    await s.net.createService({ name: 'web', networks: ['mh_net'], replicas: 2 });
    await eventually('both tasks are published', async () => {
      const id = (await s.net.inspectNetwork('mh_net')).id;
      return g1.entries(id, 'endpoint_table').length === 2;
    });

    // The store address points nowhere: a server that read it would never start. The keys come
    // from a file (the Store's current ones, as an operator would export them).
    const dir = mkdtempSync(join(tmpdir(), 'kvkit-dns-gossip-'));
    cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
    const keysFile = join(dir, 'keys');
    writeFileSync(keysFile, keys.map((k) => Buffer.from(k).toString('base64')).join('\n'));
    const server = new KvkitProcess([
      'dns',
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--gossip',
      '--gossip-bind',
      '127.0.0.1:0',
      '--gossip-join',
      addr(g1),
      '--gossip-name',
      'dns-cli',
      '--gossip-keys-file',
      keysFile,
      '--store',
      'raft://127.0.0.1:9',
    ]);
    cleanup.push(() => server.kill());
    const line = await server.line(/^listening on /, 90_000);
    const port = Number(/:(\d+)$/.exec(line)?.[1]);
    const both = await digUntil(port, (x) => ipsOf(x).length === 2, ['tasks.web'], 90_000);
    expect(ipsOf(both)).toHaveLength(2);
    const resolver = resolverAt(port);
    expect((await resolver.resolve4('tasks.web')).sort()).toEqual(ipsOf(both));

    // w2 crashes (its member closes without leaving): its task leaves DNS through gossip alone
    // (the process's gossip runs memberlist's default timings: dead within ~20 s).
    const lost = (await s.net.listTasks()).find((t) => t.nodeId === w2.nodeId);
    const lostIp = lost?.attachments[0].addresses[0].split('/')[0];
    await (w2.gossip as Gossip).close();
    const one = await digUntil(port, (x) => !ipsOf(x).includes(lostIp as string), ['tasks.web'], 90_000);
    expect(ipsOf(one)).not.toContain(lostIp);
    expect(ipsOf(one).length).toBeGreaterThanOrEqual(1);

    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
    await eventually('the DNS member left the cluster', async () =>
      g1.members().some((m) => m.name === 'dns-cli' && m.state === 'left'),
    );
  }, 240_000);

  it('startDnsServer takes exactly one of store, gossip or feed', async () => {
    await expect(startDnsServer({ listen: '127.0.0.1:0' })).rejects.toThrow(/one of store, gossip or feed/);
    await expect(startDnsServer({ listen: '127.0.0.1:0', gossip: {} as unknown as Gossip })).rejects.toThrow(
      /not a gossip member/,
    );
  });
});
