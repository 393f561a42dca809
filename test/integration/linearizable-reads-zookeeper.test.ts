/**
 * get (consistent by default), put and compare-and-swap through kvkit stay linearizable on a
 * real 3-member zookeeper cluster while members are killed, stopped and frozen (see
 * linearizable-reads.ts for the workload and the faults).
 */
import { describe, it } from 'vitest';
import { checkLinearizableReads, FAULTS, type Fault } from './linearizable-reads.js';
import { requireDocker } from './servers.js';

// Fails (does not skip) without Docker, unless KVKIT_SKIP_INTEGRATION=1.
const dockerAvailable = await requireDocker();

/**
 * The shared faults, but a follower is frozen where the others freeze the leader: ZooKeeper's
 * leader answers `sync` without asking a quorum (ZOOKEEPER-1675, open), so a leader frozen past
 * `syncLimit × tickTime` may, in the moment after it resumes and before it learns it was
 * deposed, answer a read from its old state. That is ZooKeeper's documented limit (see
 * docs/backends/zookeeper.md, "Consistency of reads"), not a guarantee kvkit can give on it.
 */
const ZOOKEEPER_FAULTS: Fault[] = FAULTS.map((fault) =>
  fault.action === 'freeze' && fault.target === 'leader' ? { action: 'freeze', target: 'follower' } : fault,
);

describe.skipIf(!dockerAvailable)('zookeeper cluster under member faults', () => {
  it('keeps every get, put and compare-and-swap linearizable and loses no acknowledged write', async () => {
    await checkLinearizableReads({ kind: 'zookeeper', backend: 'zk', faults: ZOOKEEPER_FAULTS });
  }, 900_000); // a deadline against a hang: a busy machine starts the cluster slowly
});
