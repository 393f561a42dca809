/**
 * `kvkit/raft`: kvkit's embedded Raft cluster. Start a node (bootstrap, restart or join), use
 * its Store, administer membership, make TLS certificates. This layer assembles the node from
 * the Raft layer below (src/raft: core, key space, runtime) and the raft:// backend
 * (src/backends/raft); nothing below imports it.
 */

export * from '../raft/index.js';
export { freeLoopbackPorts, type LocalCluster, startLocalCluster } from './local-cluster.js';
export { type RaftNode, type RaftNodeOptions, startRaftNode } from './start.js';
