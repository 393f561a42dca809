/**
 * One "process" of the multi-process tests: run as `node --import tsx worker.ts STORE_URL INDEX
 * ROLES [EXTERNAL_POOL_ID]`. It creates networks (VNIs and pools), services on the shared network
 * (thousands of task addresses), allocates, scales, removes, and with role `ipam` takes addresses
 * straight from IPAM. With role `allocator` it also runs runAllocator, racing the other workers
 * for the lead. It reports each step to the parent over IPC, so the parent can kill it mid-run.
 */
import { createStore } from '../../src/index.js';
import { openNetworkState } from '../../src/network-state/index.js';

const [url, indexText, rolesText, externalPool] = process.argv.slice(2);
const index = Number(indexText);
const roles = new Set(rolesText.split(','));
const replicas = Number(process.env.NS_WORKER_REPLICAS ?? 150);
const networks = Number(process.env.NS_WORKER_NETWORKS ?? 12);
const addresses = Number(process.env.NS_WORKER_ADDRESSES ?? 150);

const report = (message: object) => process.send?.(message);

const store = await createStore(url);
const net = await openNetworkState(store, { leaderTtlMs: 500 });
const stop = new AbortController();
const allocator = roles.has('allocator') ? net.runAllocator({ signal: stop.signal }) : Promise.resolve();

try {
  // VNIs and pools: every worker carves default /24s and VNIs out of the same records at once.
  const made: string[] = [];
  for (let k = 0; k < networks; k++) {
    made.push((await net.createNetwork({ name: `p${index}-n${k}` })).name);
  }
  report({ step: 'networks' });

  // Task addresses on the shared network.
  for (let k = 0; k < 3; k++) {
    await net.createService({
      name: `p${index}-s${k}`,
      networks: ['shared'],
      replicas,
      endpointMode: k === 2 ? 'dnsrr' : 'vip',
    });
  }
  report({ step: 'services' });
  await net.allocate();
  report({ step: 'allocated' });
  await net.scaleService(`p${index}-s0`, Math.floor(replicas / 2));
  await net.removeService(`p${index}-s1`);
  await net.allocate();
  for (const name of made.slice(0, Math.floor(networks / 2))) await net.removeNetwork(name);
  report({ step: 'churned' });

  // Addresses straight from IPAM, kept and reported.
  const got: string[] = [];
  if (roles.has('ipam') && externalPool) {
    const requests = Array.from({ length: addresses }, (_, i) =>
      net.ipam.requestAddress(externalPool, { serial: i % 2 === 0 }).then((a) => got.push(a)),
    );
    await Promise.all(requests);
  }
  await net.allocate();
  report({ step: 'done', ipam: got });
} catch (err) {
  report({ step: 'error', error: String((err as Error).stack ?? err) });
  process.exitCode = 1;
} finally {
  stop.abort();
  await allocator;
  await net.close();
  await store.close();
}
