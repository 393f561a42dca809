// The README's main job: an embedded 3-node kvkit Raft cluster in this process, the Store API
// on it, then Swarm-style network state on the same store, across a leader failure.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NetworkState, openNetworkState } from '../network-state/index.js';
import { startLocalCluster } from '../raft-node/index.js';
import { text } from '../store/values.js';

const log = (line: string) => console.log(line);
const dir = mkdtempSync(join(tmpdir(), 'kvkit-demo-'));
log(`starting an embedded 3-node Raft cluster in ${dir}`);
const cluster = await startLocalCluster({ size: 3, dataDir: dir, logger: (l) => log(`  ${l}`) });
const { nodes } = cluster;

try {
  const leader = await cluster.leader();
  log(`leader: ${leader.id}\n`);

  // The Store API, served in-process by each node: writes go through the log, reads are linearizable.
  const [a, b, c] = nodes.map((n) => n.store);
  await a.put('demo/config/greeting', 'hello');
  const pair = await c.get('demo/config/greeting');
  log(`put on n1, get on n3: ${pair.key} = ${text(pair)} (lastIndex ${pair.lastIndex})`);
  const swapped = await b.atomicPut('demo/config/greeting', 'hello, kvkit', pair);
  log(`cas on n2:            ${swapped.key} = ${text(swapped)} (lastIndex ${swapped.lastIndex})`);

  const stop = new AbortController();
  const seen: string[] = [];
  const watching = (async () => {
    for await (const list of c.watchTree('demo/nodes', { signal: stop.signal })) {
      seen.push(list.map((p) => p.key.split('/').pop()).join(',') || '(none)');
      if (list.length === 3) stop.abort();
    }
  })();
  for (const n of ['w1', 'w2', 'w3']) await a.put(`demo/nodes/${n}`, `10.0.0.${n.slice(1)}`, { ttl: 60_000 });
  await watching;
  log(`watchTree on n3 saw:  ${seen.join(' → ')}`);

  const lock = a.newLock('demo/leader-election', { value: 'worker on n1', ttl: 5_000 });
  await lock.lock();
  log(`lock held:            ${text(await b.get('demo/leader-election'))}`);
  const contender = b.newLock('demo/leader-election', { value: 'worker on n2', ttl: 5_000 });
  const handedOver = contender.lock();
  await lock.unlock();
  await handedOver;
  log(`lock handed over to:  ${text(await c.get('demo/leader-election'))}\n`);
  await contender.unlock();

  // Network state on the same store: docker network create / service create, Swarm's allocator.
  const net = await openNetworkState(a);
  const network = await net.createNetwork({
    name: 'mh_net',
    driver: 'overlay',
    subnets: [{ subnet: '10.9.0.0/24' }],
  });
  log(
    `network ${network.name}: ${network.subnets.map((s) => `${s.subnet} gw ${s.gateway}`).join(', ')}, VXLAN ${network.vxlanIds.join(',')}`,
  );
  await net.createService({ name: 'nginx', networks: ['mh_net'], replicas: 3 });
  const first = await net.allocate();
  log(`allocated ${first.allocated} tasks:`);
  await logTasks(net);
  await net.close();

  // Kill the leader: the other two elect a new one and keep serving, with nothing lost.
  const old = await cluster.leader();
  log(`\nstopping the leader ${old.id}`);
  await old.close();
  nodes.splice(nodes.indexOf(old), 1);
  const next = await cluster.leader();
  log(`new leader: ${next.id}`);
  const survivor = nodes[0].store;
  const after = await openNetworkState(survivor);
  await after.scaleService('nginx', 5);
  const second = await after.allocate();
  log(`scaled nginx to 5 after the failover, allocated ${second.allocated} more:`);
  await logTasks(after);
  await after.close();
  log(`\ngreeting still reads: ${text(await survivor.get('demo/config/greeting'))}`);
  log('demo finished: Raft cluster, Store API and network state all worked, across a leader failure');
} finally {
  await cluster.close();
  rmSync(dir, { recursive: true, force: true });
}

async function logTasks(net: NetworkState): Promise<void> {
  for (const task of await net.listTasks({ service: 'nginx' })) {
    log(
      `  nginx.${task.slot}  ${task.state.padEnd(8)} ${task.attachments.flatMap((t) => t.addresses).join(' ')}`,
    );
  }
}
