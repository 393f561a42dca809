/**
 * kvkit's embedded Raft cluster: start a node (bootstrap, restart or join), use its Store,
 * administer membership, make TLS certificates. The consensus core is in ./core, the
 * replicated key space in ./kv, the runtime (log, transport, node) in ./runtime.
 */

export { freeLoopbackPorts, type LocalCluster, startLocalCluster } from './local-cluster.js';
export type { Replica, ReplicaMember, ReplicaStatus, ReplicatedStateMachine } from './replica.js';
export type { ClusterAdmin, NewMember } from './runtime/admin.js';
export type { CertificateOptions, ClusterCertificates, PemPair } from './runtime/certs.js';
export { generateClusterCertificates, writeClusterCertificates } from './runtime/certs.js';
export { deriveClusterId, type InitialCluster, parseInitialCluster } from './runtime/cluster-config.js';
export {
  AddressInUseError,
  ClusterMismatchError,
  LogCorruptError,
  MembershipError,
} from './runtime/errors.js';
export { FaultHook } from './runtime/fault-hook.js';
export { type RaftNode, type RaftNodeOptions, startRaftNode } from './runtime/node.js';
export type { RaftTiming } from './runtime/replica-node.js';
export { loadTlsDir, type TlsMaterial } from './runtime/tls-material.js';
