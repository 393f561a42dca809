/**
 * get (consistent by default), put and compare-and-swap through kvkit stay linearizable on a
 * real 3-member zookeeper cluster while members are killed, stopped and frozen (see
 * linearizable-reads.ts for the workload and the faults).
 */
import { describe, it } from 'vitest';
import { checkLinearizableReads } from './linearizable-reads.js';
import { requireDocker } from './servers.js';

// Fails (does not skip) without Docker, unless KVKIT_SKIP_INTEGRATION=1.
const dockerAvailable = await requireDocker();

describe.skipIf(!dockerAvailable)('zookeeper cluster under member faults', () => {
  it('keeps every get, put and compare-and-swap linearizable and loses no acknowledged write', async () => {
    await checkLinearizableReads({ kind: 'zookeeper', backend: 'zk' });
  }, 900_000); // a deadline against a hang: a busy machine starts the cluster slowly
});
