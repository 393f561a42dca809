import type { Store, StoreOptions } from '../../store/types.js';
import { RaftClientStore } from './client-store.js';

export { RaftClientStore };

/** `raft://host:port,...`: a client of a kvkit Raft cluster. */
export function openRaftClientStore(options: StoreOptions): Promise<Store> {
  return RaftClientStore.open(options);
}
