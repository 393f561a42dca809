import './backends/index.js';

export * from './network-state/index.js';
export * from './raft/index.js';
export * from './store/index.js';
