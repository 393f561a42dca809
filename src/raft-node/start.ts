import type { RaftNode, RaftNodeOptions } from './node.js';

export type { RaftNode, RaftNodeOptions };

/**
 * Starts a kvkit Raft node: bootstraps a new cluster (`initialCluster`), restarts from its
 * data dir, or joins a running cluster (`join`). `node.store` is the Store it serves.
 * The runtime (LMDB log, sockets, msgpack) loads on the first call, not with `import 'kvkit'`.
 */
export async function startRaftNode(options: RaftNodeOptions): Promise<RaftNode> {
  const { startRaftNode: start } = await import('./node.js');
  return start(options);
}
