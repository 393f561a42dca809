import './backends/index.js';

export * from './store/index.js';
