/** Node discovery and leadership on a real ZooKeeper (ephemeral znodes in sessions). */
import { describeDiscoveryOn } from '../discovery/backend-suite.js';

describeDiscoveryOn('zookeeper', 'zk', (ttlMs) => ttlMs * 3 + 10_000);
