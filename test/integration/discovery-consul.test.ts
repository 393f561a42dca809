/** Node discovery and leadership on a real Consul (sessions; TTL floor 20 s, expiry within 2 × TTL plus lock delay). */
import { describeDiscoveryOn } from '../discovery/backend-suite.js';

describeDiscoveryOn('consul', 'consul', (ttlMs) => ttlMs * 2 + 30_000);
