import { afterAll, beforeAll } from 'vitest';
import '../../src/backends/index.js';
import { runConformance } from '../../src/conformance/index.js';
import { createStore } from '../../src/store/create-store.js';
import { NodeCluster } from './raft-node-cluster.js';

// One 3-node cluster in this process serves both suites.
let cluster: NodeCluster;
let turn = 0;

beforeAll(async () => {
  cluster = await NodeCluster.start(3);
  await cluster.leader();
}, 60_000);
afterAll(async () => {
  await cluster?.close();
}, 60_000);

runConformance({
  name: 'raft embedded (3 nodes, node.store)',
  // Each store a session on the next node: locks and watches are tested across nodes.
  open: async () => [...cluster.nodes.values()][turn++ % 3].openStore(),
});

runConformance({
  name: 'raft:// (3 nodes in this process)',
  open: () => createStore(cluster.clientUrl()),
});
