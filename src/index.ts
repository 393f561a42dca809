import './backends/index.js';

export * from './discovery/index.js';
export * from './gossip/index.js';
export * from './network-state/index.js';
export * from './raft-node/index.js';
export * from './store/index.js';
export * from './swarm/index.js';
