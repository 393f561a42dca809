import { readGossipKeys } from '../../src/gossip/store-keyring.js';
import type { Store } from '../../src/index.js';
import { eventually } from './member-processes.js';

/** The keys the acting manager keeps in the Store, once it has written them. */
export async function storeKeys(store: Store, prefix?: string): Promise<Uint8Array[]> {
  let keys: Uint8Array[] | null = null;
  await eventually('the manager keeps a gossip keyring in the Store', async () => {
    keys = await readGossipKeys(store, prefix);
    return keys !== null;
  });
  return keys as unknown as Uint8Array[];
}
