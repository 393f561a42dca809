import { afterAll } from 'vitest';
import { runConformance } from '../../src/conformance/index.js';
import { createKvStateMachine, LeaseExpiryClock } from '../../src/raft/kv/index.js';
import { createEmbeddedStore } from '../../src/raft-node/embedded-store.js';
import { DirectReplica } from './direct-replica.js';

// The embedded store's own logic over one directly applying replica; the cluster runs are in test/raft-cluster.
const sm = createKvStateMachine();
const replica = new DirectReplica(sm);
const clock = new LeaseExpiryClock(replica, sm);
afterAll(() => clock.close());
runConformance({
  name: 'raft embedded store (direct replica)',
  open: async () => createEmbeddedStore(replica, sm),
});
