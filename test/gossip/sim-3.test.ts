import { describeGossipClusters } from './sim-batch.js';

// One of four files so vitest runs the 600 simulated gossip clusters on several workers.
describeGossipClusters(301, 450);
