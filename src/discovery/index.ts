/** discovery: node discovery, leader election and the DNS server; re-exported from src/index.ts. */
export {
  DEFAULT_DISCOVERY_PREFIX,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_NODE_TTL_MS,
  Discovery,
  openDiscovery,
} from './discovery.js';
export type {
  CampaignOptions,
  DiscoveryOptions,
  FollowOptions,
  RegisterOptions,
  Registration,
  WatchNodesOptions,
} from './types.js';
