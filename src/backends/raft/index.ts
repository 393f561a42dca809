import type { KvStateMachine } from '../../raft/kv/index.js';
import type { Replica } from '../../raft/replica.js';
import type { Store } from '../../store/types.js';
import { type EmbeddedStoreOptions, RaftEmbeddedStore } from './embedded-store.js';

export { type EmbeddedStoreOptions, RaftEmbeddedStore };

/** The Store served inside a Raft node, over its replica and state machine. */
export function createEmbeddedStore(
  replica: Replica,
  sm: KvStateMachine,
  options?: EmbeddedStoreOptions,
): Store {
  return new RaftEmbeddedStore(replica, sm, options);
}
