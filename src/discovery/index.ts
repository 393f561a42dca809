/** discovery: node discovery, leader election and the DNS server; re-exported from src/index.ts. */
export {
  DEFAULT_DISCOVERY_PREFIX,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_NODE_TTL_MS,
  Discovery,
  openDiscovery,
} from './discovery.js';
export type { DnsAddress, DnsService, DnsTask } from './dns/records.js';
export {
  DEFAULT_DNS_TTL_SECONDS,
  type DnsRecordFeed,
  type DnsServer,
  type DnsServerOptions,
  networkStateFeed,
  startDnsServer,
} from './dns/server.js';
export { ListenError } from './dns/sockets.js';
export {
  isRunning,
  notShuttingDown,
  onReadyNode,
  TASK_IN_DNS,
  type TaskPredicate,
} from './dns/state-records.js';
export type {
  CampaignOptions,
  DiscoveryOptions,
  FollowOptions,
  RegisterOptions,
  Registration,
  WatchNodesOptions,
} from './types.js';
