import { describeSimulatedClusters } from './sim-batch.js';

// One of four files so vitest runs the 2,000 simulated clusters on several workers.
describeSimulatedClusters(3, 1, 500);
