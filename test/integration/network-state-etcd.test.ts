/**
 * The multi-process network-state test on a real etcd in a container: four processes allocate
 * addresses and VNIs at once, two race runAllocator, one is SIGKILLed; nothing is handed out
 * twice and every pool is free once everything is removed and reconciled.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore, type Store } from '../../src/index.js';
import { runMultiProcessScenario } from '../network-state/multi-process.js';
import { type RunningServer, requireDocker, startServer } from './servers.js';

// Fails (does not skip) without Docker, unless KVKIT_SKIP_INTEGRATION=1 is set on purpose.
const dockerAvailable = await requireDocker();
// A correctness test, not a latency one: on a loaded CI machine etcd's fsyncs can stall for
// seconds, so calls get a generous deadline rather than fail the scenario with TIMEOUT.
const CALL_TIMEOUT_MS = 30_000;

describe.skipIf(!dockerAvailable)('network state on etcd, four processes', () => {
  let server: RunningServer;
  let store: Store;

  beforeAll(async () => {
    // etcd gives up on a proposal it has not applied within 5 s + 2 election timeouts ("etcdserver:
    // request timed out", 7 s by default): with both cores busy its fsyncs stalled that long. A
    // 5 s election timeout makes that 15 s (and the lease floor 7.5 s); one member, no elections.
    server = await startServer('etcd', { args: ['--heartbeat-interval=500', '--election-timeout=5000'] });
    store = await createStore({
      backend: 'etcd',
      endpoints: [server.endpoint],
      connectTimeoutMs: CALL_TIMEOUT_MS,
    });
  }, 300_000);

  afterAll(async () => {
    await store?.close();
    await server?.close();
  });

  it('never hand out an address or VNI twice, survive a SIGKILL, and leave every pool free once all is removed', async () => {
    const totals = await runMultiProcessScenario({
      url: `etcd://${server.endpoint}?connectTimeoutMs=${CALL_TIMEOUT_MS}`,
      store,
    });
    expect(totals.tasks + totals.ipam).toBeGreaterThan(1000);
    expect(totals.vnis).toBeGreaterThan(20);
  }, 240_000);
});
