/**
 * Which tasks DNS answers beyond `running` (state-records.ts TASK_IN_DNS): only tasks on a ready
 * node, and none told to shut down. The records are network state's own objects; the node and
 * desired-state fields are set on the snapshot as the Swarm loop's manager writes them, and the
 * answers come from a real server through dig.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { servicesFromState } from '../../../src/discovery/dns/state-records.js';
import {
  createStore,
  type DnsServer,
  type DnsService,
  type NetworkState,
  type NetworkStateSnapshot,
  type Node,
  openNetworkState,
  type Store,
  startDnsServer,
  type Task,
} from '../../../src/index.js';
import { Channel } from '../../../src/store/channel.js';
import { bare, type DigAnswer, digUntil, ipsOf, sortIps } from './support.js';

describe('DNS answers only tasks that may take traffic', () => {
  let store: Store;
  let net: NetworkState;
  let dns: DnsServer;
  let lists: Channel<DnsService[]>;
  let base: NetworkStateSnapshot;
  let node: Node;
  let tasks: Task[];

  /** Serves `snapshot` and waits until `tasks.web` answers it (a bound against hangs). */
  const serve = (snapshot: NetworkStateSnapshot, expected: string[]): Promise<DigAnswer> => {
    lists.push(servicesFromState(snapshot));
    return digUntil(dns.address.port, (a) => JSON.stringify(ipsOf(a)) === JSON.stringify(expected), [
      'tasks.web',
    ]);
  };
  const addressOf = (t: Task) => bare(t.attachments[0].addresses[0]);

  beforeEach(async () => {
    store = await createStore('memory:');
    net = await openNetworkState(store);
    await net.createNetwork({ name: 'front', subnets: [{ subnet: '10.10.0.0/24' }] });
    await net.createService({ name: 'web', networks: ['front'], replicas: 2 });
    await net.allocate();
    for (const t of await net.listTasks({ service: 'web' })) await net.updateTaskState(t.id, 'running');
    node = await net.registerNode({
      hostname: 'worker-1',
      addr: '10.0.0.1',
      labels: {},
      heartbeatPeriodMs: 5000,
    });
    const stop = new AbortController();
    for await (const snapshot of net.watch({ signal: stop.signal })) {
      if (snapshot.nodes.length === 1 && snapshot.tasks.every((t) => t.state === 'running')) {
        base = snapshot;
        break;
      }
    }
    stop.abort();
    // Both tasks placed on the node, as the scheduler does.
    tasks = base.tasks.map((t) => ({ ...t, nodeId: node.id }));
    base = { ...base, tasks };
    const feed = (signal: AbortSignal) => {
      lists = new Channel<DnsService[]>({ signal }); // ends when the server closes
      lists.push(servicesFromState(base));
      return lists;
    };
    dns = await startDnsServer({ feed, listen: '127.0.0.1:0' });
  });
  afterEach(async () => {
    await dns?.close();
    await net?.close();
    await store?.close();
  });

  it('tasks on a node that goes down leave DNS, and come back when it is ready again (moby#35548)', async () => {
    const all = sortIps(tasks.map(addressOf));
    expect(ipsOf(await serve(base, all))).toEqual(all);
    const down = { ...base, nodes: [{ ...node, state: 'down' as const }] };
    const answer = await serve(down, []);
    expect(answer.status).toBe('NOERROR');
    expect(answer.answers).toEqual([]);
    expect(ipsOf(await serve(base, all))).toEqual(all);
  });

  it('a running task told to shut down leaves DNS before it stops', async () => {
    const [leaving, staying] = tasks;
    const told = { ...base, tasks: [{ ...leaving, desiredState: 'shutdown' as const }, staying] };
    expect(leaving.state).toBe('running');
    expect(ipsOf(await serve(told, [addressOf(staying)]))).toEqual([addressOf(staying)]);
  });

  it('a task on a node the snapshot does not know is not answered', async () => {
    const elsewhere = { ...base, tasks: tasks.map((t) => ({ ...t, nodeId: 'gone-node' })) };
    expect((await serve(elsewhere, [])).answers).toEqual([]);
  });
});
