/**
 * The Raft layer's public names: the replica seam, membership administration, TLS
 * certificates, cluster configuration, errors. The consensus core is in ./core, the
 * replicated key space in ./kv, the runtime (log, transport, replica node) in ./runtime,
 * the simulator in ./sim. The production node that assembles them with the Store
 * (`startRaftNode`, `startLocalCluster`) is one layer up, in src/raft-node/.
 */

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
export type { RaftTiming } from './runtime/replica-node.js';
export { loadTlsDir, type TlsMaterial } from './runtime/tls-material.js';
