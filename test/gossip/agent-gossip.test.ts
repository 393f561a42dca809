import { afterEach, describe, expect, it } from 'vitest';
import { run as agentCli } from '../../src/cli/agent.js';
import { type Gossip, startGossip } from '../../src/gossip/index.js';
import { createStore, GOSSIP_TASK_TABLE } from '../../src/index.js';
import { type Swarm, startSwarm } from '../swarm/harness.js';
import { eventually } from './member-processes.js';
import { twoGossipAgents } from './store-keys.js';

/** Short protocol periods so a test sees many rounds; verdicts never depend on them. */
const config = { probeIntervalMs: 200, probeTimeoutMs: 100, gossipIntervalMs: 50 };
const addr = (g: Gossip): string => `127.0.0.1:${g.address.port}`;

let swarm: Swarm | undefined;
let observer: Gossip | undefined;
afterEach(async () => {
  await observer?.close();
  await swarm?.close();
  observer = swarm = undefined;
});

interface Published {
  key: string;
  owner: string;
  service: string;
  addresses: string[];
  vip?: string;
}

function published(g: Gossip, networkId: string): Published[] {
  return g
    .entries(networkId, GOSSIP_TASK_TABLE)
    .map(({ key, owner, value }) => ({ key, owner, ...JSON.parse(new TextDecoder().decode(value)) }))
    .sort((a, b) => a.key.localeCompare(b.key));
}

const joined = (g: Gossip, networkId: string): boolean =>
  g.networks().some((n) => n.network === networkId && n.joined);

describe('agents in the gossip cluster', () => {
  it('each agent is a member named after its node, publishes its running tasks per network, leaves a network with its last task there, and leaves the cluster on close', async () => {
    swarm = await startSwarm();
    const s = swarm;
    const { keys, w1, w2, g1, g2 } = await twoGossipAgents(s);
    expect(g1.name).toBe(w1.nodeId);
    expect(g2.name).toBe(w2.nodeId);
    observer = await startGossip({ name: 'observer', bind: '127.0.0.1:0', join: [addr(g1)], keys, config });
    const o = observer;
    const networkId = (await s.net.inspectNetwork('mh_net')).id;
    await o.joinNetwork(networkId);

    await s.net.createService({ name: 'web', networks: ['mh_net'], replicas: 2, endpointMode: 'vip' });
    await eventually('both tasks are published', async () => published(o, networkId).length === 2);
    const tasks = await s.net.listTasks({ service: 'web' });
    const entries = published(o, networkId);
    for (const task of tasks) {
      const entry = entries.find((e) => e.key === task.id);
      expect(entry?.owner).toBe(task.nodeId);
      expect(entry?.service).toBe('web');
      expect(entry?.addresses).toEqual(task.attachments[0].addresses.map((a) => a.split('/')[0]));
      expect(entry?.vip).toMatch(/^10\.9\.0\.\d+$/);
    }
    expect(joined(g1, networkId) && joined(g2, networkId)).toBe(true);

    // Scaled down to one: the other task's entry goes, and its node leaves the network.
    await s.net.scaleService('web', 1);
    await eventually('one task is left in gossip', async () => published(o, networkId).length === 1);
    const [left] = published(o, networkId);
    const idle = left.owner === g1.name ? g2 : g1;
    await eventually('the idle node left the network', async () => !joined(idle, networkId));
    expect(joined(left.owner === g1.name ? g1 : g2, networkId)).toBe(true);

    // close() stops the task and leaves the cluster: left everywhere, its entries gone.
    const busy = left.owner === w1.nodeId ? w1 : w2;
    await busy.close();
    await eventually('the closed agent is left', async () =>
      o.members().some((m) => m.name === busy.nodeId && m.state === 'left'),
    );
    await eventually(
      'its entry is gone (its replacement may be published by the other node)',
      async () => !published(o, networkId).some((e) => e.owner === busy.nodeId),
    );
  }, 180_000);

  it('refuses bad gossip options before registering a node', async () => {
    swarm = await startSwarm({ manager: false });
    await expect(swarm.join('w1', { gossip: { bind: 'nope:x' } })).rejects.toThrow(/endpoint|port|host/i);
    await expect(
      swarm.join('w1', { gossip: { bind: '127.0.0.1:0', keys: [new Uint8Array(3)] } }),
    ).rejects.toThrow(/16 or 32 bytes/);
    expect(await swarm.net.listNodes()).toEqual([]);
  });

  it('rejects with NOT_REACHABLE when no join address answers, ', async () => {
    swarm = await startSwarm({ manager: false });
    const err = await swarm
      .join('w1', { gossip: { bind: '127.0.0.1:0', join: ['127.0.0.1:9'], joinTimeoutMs: 1500, config } })
      .catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('NOT_REACHABLE');
  });

  it('kvkit agent start --gossip-bind joins the cluster through --gossip-join and leaves it on SIGTERM', async () => {
    observer = await startGossip({ name: 'observer', bind: '127.0.0.1:0', config });
    const o = observer;
    const stop = new AbortController();
    const out: string[] = [];
    const err: string[] = [];
    const name = `agent-gossip-cli-${process.pid}`;
    const keeper = await createStore(`memory://${name}`);
    try {
      const done = agentCli(
        [
          'start',
          '--hostname',
          'w7',
          '--heartbeat',
          '1s',
          '--gossip-bind',
          '127.0.0.1:0',
          '--gossip-join',
          addr(o),
        ],
        {
          openStore: () => createStore(`memory://${name}`),
          stdout: (line) => out.push(line),
          stderr: (line) => err.push(line),
          signal: stop.signal,
        },
      );
      await eventually('the agent printed its gossip member', async () =>
        out.some((l) => /^gossip member [a-z0-9]+ on 127\.0\.0\.1:\d+$/.test(l)),
      );
      const member = /^gossip member ([a-z0-9]+) on/.exec(out.find((l) => l.startsWith('gossip')) ?? '')?.[1];
      expect(out[0]).toMatch(new RegExp(`^node ${member} \\(w7\\) joined$`));
      await eventually('the observer sees it alive', async () =>
        o.members().some((m) => m.name === member && m.state === 'alive'),
      );
      stop.abort();
      expect(await done).toBe(0);
      await eventually('the observer sees it left', async () =>
        o.members().some((m) => m.name === member && m.state === 'left'),
      );
      expect(err.join('\n')).not.toMatch(/error/i);
    } finally {
      stop.abort();
      await keeper.close();
    }
  }, 120_000);

  it('kvkit agent start refuses --gossip-join without --gossip-bind', async () => {
    await expect(
      agentCli(['start', '--hostname', 'w7', '--gossip-join', '127.0.0.1:7946'], {
        openStore: () => createStore('memory://unused'),
        stdout: () => {},
        stderr: () => {},
        signal: new AbortController().signal,
      }),
    ).rejects.toThrow(/need --gossip-bind/);
  });
});
