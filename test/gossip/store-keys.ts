import { readGossipKeys } from '../../src/gossip/store-keyring.js';
import type { Agent, Gossip, Store } from '../../src/index.js';
import type { Swarm } from '../swarm/harness.js';
import { eventually } from './member-processes.js';

/** Short protocol periods so a test sees many rounds; verdicts never depend on them. */
export const FAST_GOSSIP = { probeIntervalMs: 200, probeTimeoutMs: 100, gossipIntervalMs: 50 };
export const gossipAddr = (g: Gossip): string => `127.0.0.1:${g.address.port}`;

/** Two agents w1, w2 in one gossip cluster (w2 joins through w1), once the manager's keyring exists. */
export async function twoGossipAgents(
  s: Swarm,
): Promise<{ keys: Uint8Array[]; w1: Agent; w2: Agent; g1: Gossip; g2: Gossip }> {
  const keys = await storeKeys(s.store);
  const w1 = await s.join('w1', { gossip: { bind: '127.0.0.1:0', config: FAST_GOSSIP } });
  const g1 = w1.gossip as Gossip;
  const w2 = await s.join('w2', {
    gossip: { bind: '127.0.0.1:0', join: [gossipAddr(g1)], config: FAST_GOSSIP },
  });
  return { keys, w1, w2, g1, g2: w2.gossip as Gossip };
}

/** The keys the acting manager keeps in the Store, once it has written them. */
export async function storeKeys(store: Store, prefix?: string): Promise<Uint8Array[]> {
  let keys: Uint8Array[] | null = null;
  await eventually('the manager keeps a gossip keyring in the Store', async () => {
    keys = await readGossipKeys(store, prefix);
    return keys !== null;
  });
  return keys as unknown as Uint8Array[];
}
