/**
 * gossip: the network control plane — SWIM membership with Lifeguard and network-scoped
 * tables (libnetwork's NetworkDB), encrypted with AES-GCM, on UDP and TCP. The pure core is
 * in ./core, the simulator in ./sim; see docs/gossip.md.
 */
export { GOSSIP_DEFAULTS, type GossipConfig } from './core/config.js';
export type { NetworkStats } from './core/core.js';
export { NotOnNetworkError } from './core/errors.js';
export {
  MAX_KEY_BYTES as MAX_GOSSIP_KEY_BYTES,
  MAX_VALUE_BYTES as MAX_GOSSIP_VALUE_BYTES,
} from './core/limits.js';
export type { MemberStateName as GossipMemberState } from './core/messages.js';
export {
  type Gossip,
  type GossipEntry,
  type GossipMember,
  type GossipOptions,
  type GossipStats,
  type GossipWatchEvent,
  startGossip,
} from './runtime/gossip.js';
export { type GossipQuery, queryGossipMember } from './runtime/query.js';
export {
  type GossipTask,
  gossipDnsFeed,
  servicesFromGossip,
  TASK_TABLE as GOSSIP_TASK_TABLE,
  TaskPublisher,
} from './service-records.js';
