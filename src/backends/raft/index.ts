import type { KvStateMachine } from '../../raft/kv/index.js';
import type { Replica } from '../../raft/replica.js';
import type { Store, StoreOptions } from '../../store/types.js';
import { RaftClientStore } from './client-store.js';
import { type EmbeddedStoreOptions, RaftEmbeddedStore } from './embedded-store.js';

export {
  type ClientServer,
  type ClientServerOptions,
  type ClusterAdminApi,
  startClientServer,
} from './client-server.js';
export { type EmbeddedStoreOptions, RaftClientStore, RaftEmbeddedStore };

/** The Store served inside a Raft node, over its replica and state machine. */
export function createEmbeddedStore(
  replica: Replica,
  sm: KvStateMachine,
  options?: EmbeddedStoreOptions,
): Store {
  return new RaftEmbeddedStore(replica, sm, options);
}

/** `raft://host:port,...`: a client of a kvkit Raft cluster. */
export function openRaftClientStore(options: StoreOptions): Promise<Store> {
  return RaftClientStore.open(options);
}
