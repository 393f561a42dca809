import { afterEach, describe, expect, it } from 'vitest';
import {
  followGossipKeys,
  gossipKeyringKey,
  keepGossipKeys,
  readGossipKeys,
} from '../../src/gossip/store-keyring.js';
import { createStore, type Gossip, type Store, startGossip } from '../../src/index.js';
import { type Swarm, startSwarm } from '../swarm/harness.js';
import { eventually } from './member-processes.js';

const config = { probeIntervalMs: 200, probeTimeoutMs: 100, gossipIntervalMs: 50 };
const addr = (g: Gossip): string => `127.0.0.1:${g.address.port}`;
const b64 = (k: Uint8Array) => Buffer.from(k).toString('base64');

const undo: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const u of undo.splice(0).reverse()) await u().catch(() => {});
});

interface Seen {
  keys: string[];
  phase: string;
}

/** Every version of the keyring record, in order (the memory store's watch yields each). */
function record(store: Store, signal: AbortSignal): Seen[] {
  const seen: Seen[] = [];
  void (async () => {
    try {
      for await (const pair of store.watch(gossipKeyringKey(), { signal })) {
        if (!pair) continue;
        const r = JSON.parse(new TextDecoder().decode(pair.value)) as Seen;
        seen.push({ keys: r.keys, phase: r.phase });
      }
    } catch {
      // ends on abort
    }
  })();
  return seen;
}

/** add (old primary, new installed) → switch (new primary, old installed) → remove (new alone). */
function legal(a: Seen, b: Seen): boolean {
  const same = (x: string[], y: string[]) => x.join() === y.join();
  if (a.phase === 'stable')
    return (
      b.phase === 'added' && same(b.keys.slice(0, -1), a.keys) && !a.keys.includes(b.keys.at(-1) as string)
    );
  if (a.phase === 'added')
    return b.phase === 'switched' && same(b.keys, [a.keys.at(-1) as string, ...a.keys.slice(0, -1)]);
  return b.phase === 'stable' && same(b.keys, [a.keys[0]]);
}

describe('the gossip keyring in the Store', () => {
  it('two managers keeping it at once create one key and rotate it add → primary → remove, never skipping a step', async () => {
    const store = await createStore('memory:');
    undo.push(() => store.close());
    const stop = new AbortController();
    const seen = record(store, stop.signal);
    const errors: unknown[] = [];
    const keepers = [1, 2].map(() =>
      keepGossipKeys(store, {
        signal: stop.signal,
        rotateEveryMs: 400,
        stepMs: 150,
        onError: (e) => errors.push(e),
      }),
    );
    undo.push(async () => {
      stop.abort();
      await Promise.all(keepers);
    });
    await eventually('two whole rotations', async () => seen.filter((s) => s.phase === 'stable').length >= 3);
    stop.abort();
    await Promise.all(keepers);
    expect(seen[0]).toMatchObject({ phase: 'stable' });
    expect(seen[0].keys).toHaveLength(1);
    for (let i = 1; i < seen.length; i++)
      expect(legal(seen[i - 1], seen[i]), JSON.stringify(seen[i])).toBe(true);
    for (const k of seen.flatMap((s) => s.keys)) expect(Buffer.from(k, 'base64').byteLength).toBe(32);
    expect(errors).toEqual([]);
  });

  it('a damaged record is replaced and reported without its content; followers ignore it', async () => {
    const store = await createStore('memory:');
    undo.push(() => store.close());
    const secret = Buffer.alloc(32, 7).toString('base64');
    await store.put(
      gossipKeyringKey(),
      JSON.stringify({ v: 1, keys: [secret, 'x'], phase: 'odd', since: 0 }),
    );
    const installed: string[][] = [];
    const stop = new AbortController();
    const errors: unknown[] = [];
    const follower = followGossipKeys(store, async (k) => void installed.push(k.map(b64)), {
      signal: stop.signal,
      onError: (e) => errors.push(e),
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(installed).toEqual([]);
    const keeper = keepGossipKeys(store, { signal: stop.signal, onError: (e) => errors.push(e) });
    undo.push(async () => {
      stop.abort();
      await Promise.all([keeper, follower]);
    });
    await eventually('the follower installs the new key', async () => installed.length === 1);
    expect(installed[0]).toEqual((await readGossipKeys(store))?.map(b64));
    expect(installed[0]).not.toContain(secret);
    expect(errors.map(String).join('\n')).toMatch(/damaged: replaced/);
    expect(errors.map((e) => `${String(e)} ${JSON.stringify(e)}`).join('\n')).not.toContain(secret);
  });

  it('agents follow the managers’ rotations: entries published across two rotations all arrive, and no key is ever logged', async () => {
    const lines: string[] = [];
    const log = (e: unknown) => lines.push(`${String(e)} ${(e as Error)?.stack ?? ''}`);
    const swarm: Swarm = await startSwarm({ manager: false });
    undo.push(() => swarm.close());
    const stopManager = new AbortController();
    const { runManager } = await import('../../src/index.js');
    const manager = runManager(swarm.store, {
      signal: stopManager.signal,
      heartbeatPeriodMs: 500,
      lockTtlMs: 1000,
      gossipKeys: { rotateEveryMs: 4000, stepMs: 1500 },
      onError: log,
    });
    undo.push(async () => {
      stopManager.abort();
      await manager;
    });
    const seen = record(swarm.store, stopManager.signal);
    await eventually('the manager created the keyring', async () => seen.length > 0);
    const gossip = (extra = {}) => ({
      bind: '127.0.0.1:0',
      config,
      logger: (l: string) => lines.push(l),
      ...extra,
    });
    const w1 = await swarm.join('w1', { gossip: gossip(), onError: log });
    const w2 = await swarm.join('w2', {
      gossip: gossip({ join: [addr(w1.gossip as Gossip)] }),
      onError: log,
    });
    // An observer that follows the Store's keys as an agent does.
    const observer = await startGossip({
      name: 'observer',
      bind: '127.0.0.1:0',
      join: [addr(w1.gossip as Gossip)],
      keys: (await readGossipKeys(swarm.store)) ?? undefined,
      config,
      logger: (l) => lines.push(l),
    });
    const stopFollow = new AbortController();
    const following = followGossipKeys(swarm.store, (k) => observer.setKeys(k), {
      signal: stopFollow.signal,
      onError: log,
    });
    undo.push(async () => {
      stopFollow.abort();
      await following;
      await observer.close();
    });
    const networkId = (await swarm.net.inspectNetwork('mh_net')).id;
    await observer.joinNetwork(networkId);

    // Scale up step by step while the keys rotate twice; every task must reach the observer.
    const start = seen.filter((s) => s.phase === 'stable').length;
    await swarm.net.createService({ name: 'web', networks: ['mh_net'], replicas: 1 });
    let replicas = 1;
    while (seen.filter((s) => s.phase === 'stable').length < start + 2) {
      await swarm.net.scaleService('web', ++replicas);
      await new Promise((r) => setTimeout(r, 700));
    }
    const want = replicas;
    await eventually(
      `all ${want} tasks reach the observer`,
      async () => observer.entries(networkId, 'endpoint_table').length === want,
      120_000,
    );
    for (const w of [w1, w2]) {
      expect(w.gossip?.members().filter((m) => m.state === 'alive')).toHaveLength(3);
    }
    for (let i = 1; i < seen.length; i++) expect(legal(seen[i - 1], seen[i])).toBe(true);
    const everyKey = new Set(seen.flatMap((s) => s.keys));
    expect(everyKey.size).toBeGreaterThanOrEqual(3);
    const text = lines.join('\n');
    for (const k of everyKey) {
      expect(text).not.toContain(k);
      expect(text).not.toContain(Buffer.from(k, 'base64').toString('hex'));
    }
  }, 240_000);
});
