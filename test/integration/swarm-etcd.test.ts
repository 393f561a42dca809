/**
 * The real-process Swarm proof on a real etcd in a container: two `kvkit manager run` processes
 * (one acts), 4 `kvkit agent start`, `kvkit dns serve`; SIGKILL an agent, then the acting manager.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KvkitProcess } from '../discovery/cli-process.js';
import { HEARTBEAT, runSwarmScenario } from '../swarm/process-scenario.js';
import { type RunningServer, requireDocker, startServer } from './servers.js';

// Fails (does not skip) without Docker, unless KVKIT_SKIP_INTEGRATION=1 is set on purpose.
const dockerAvailable = await requireDocker();

describe.skipIf(!dockerAvailable)('the Swarm loop in real processes on etcd', () => {
  let server: RunningServer;
  const managers: KvkitProcess[] = [];

  beforeAll(async () => {
    server = await startServer('etcd');
  }, 300_000);

  afterAll(async () => {
    await Promise.allSettled(managers.map((m) => m.kill('SIGKILL')));
    await server?.close();
  });

  it('8 replicas run and resolve; a SIGKILLed agent’s tasks move; a SIGKILLed acting manager marks no node down', async () => {
    const url = `etcd://${server.endpoint}?connectTimeoutMs=30000`;
    for (let i = 0; i < 2; i++) {
      managers.push(new KvkitProcess(['manager', 'run', '--heartbeat', HEARTBEAT, '--store', url]));
    }
    const first = await Promise.any(managers.map((m) => m.line(/manager acting/, 120_000).then(() => m)));
    const measured = await runSwarmScenario({
      url,
      async killLeader() {
        await first.kill('SIGKILL');
        return 'the acting manager';
      },
    });
    console.log(`swarm on etcd: ${JSON.stringify(measured)}`);
    expect(measured.moved).toBeGreaterThan(0);
  });
});
