import { afterEach, describe, expect, it } from 'vitest';
import { ProcessCluster } from '../raft-cluster/processes.js';
import { HEARTBEAT_MS, RESTART_DELAY_MS, runSwarmScenario } from './process-scenario.js';

let cluster: ProcessCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

describe('the Swarm loop in real processes on a 3-process kvkit Raft cluster (managers inside)', () => {
  it('8 replicas run and resolve; a SIGKILLed agent’s tasks move; a SIGKILLed Raft leader marks no node down', async () => {
    cluster = await ProcessCluster.start(3, { manager: true });
    const c = cluster;
    await c.leader();
    const measured = await runSwarmScenario({
      url: `raft://${c.clientAddrs().join(',')}`,
      async killLeader() {
        const id = await c.leader();
        await c.kill9(id);
        return `Raft leader ${id}`;
      },
    });
    console.log(
      `swarm on raft processes: ${JSON.stringify(measured)} (heartbeat ${HEARTBEAT_MS} ms, restart delay ${RESTART_DELAY_MS} ms)`,
    );
    // The goal (3 periods + restart delay + 2 s), reported rather than asserted: no verdict on speed.
    expect(measured.replacedMs).toBeGreaterThan(0);
  });
});
