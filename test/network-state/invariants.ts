import { expect } from 'vitest';
import { json, type Store } from '../../src/index.js';
import type { NetworkState } from '../../src/network-state/index.js';

/** Every address a task or a VIP holds, with who holds it. */
export async function heldAddresses(net: NetworkState): Promise<{ address: string; holder: string }[]> {
  const out: { address: string; holder: string }[] = [];
  for (const task of await net.listTasks()) {
    for (const a of task.attachments)
      for (const address of a.addresses) out.push({ address: `${a.networkId}|${address}`, holder: task.id });
  }
  for (const service of await net.listServices()) {
    for (const vip of service.virtualIps)
      out.push({ address: `${vip.networkId}|${vip.addr}`, holder: service.id });
  }
  return out;
}

/** No address is held by two objects. */
export async function expectNoDuplicates(net: NetworkState): Promise<number> {
  const held = await heldAddresses(net);
  const seen = new Map<string, string>();
  for (const { address, holder } of held) {
    const other = seen.get(address);
    expect(other === undefined ? undefined : `${address} held by ${other} and ${holder}`).toBeUndefined();
    seen.set(address, holder);
  }
  return held.length;
}

/** Every claim in the store, by pool instance or 'vxlan'. */
export async function storedClaims(
  store: Store,
  prefix = 'kvkit/network',
): Promise<{ space: string; owner: string }[]> {
  const out: { space: string; owner: string }[] = [];
  for (const pair of await store.list(prefix)) {
    if (!pair.key.includes('/chunks/')) continue;
    const space = pair.key.slice(0, pair.key.indexOf('/chunks/'));
    for (const [, owner] of json<{ e: [number, string][] }>(pair).e) out.push({ space, owner });
  }
  return out;
}

/** After everything is removed and reconciled: no pool, no claim, nothing but bookkeeping keys. */
export async function expectEmpty(store: Store, prefix = 'kvkit/network'): Promise<void> {
  expect(await storedClaims(store, prefix)).toEqual([]);
  const spaces = (await store.list(`${prefix}/ipam/spaces`)).map((p) => json<{ pools: object }>(p).pools);
  for (const pools of spaces) expect(pools).toEqual({});
  const left = (await store.list(prefix))
    .map((p) => p.key.slice(prefix.length + 1))
    .filter(
      (k) =>
        !k.startsWith('events/') &&
        !k.startsWith('ipam/spaces/') &&
        !k.endsWith('/cursor') &&
        !k.startsWith('allocator/'),
    );
  expect(left).toEqual([]);
}

/** Polls `check` until it holds or `ms` pass. */
export async function eventually(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
