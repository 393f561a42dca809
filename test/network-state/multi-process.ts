import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { Store } from '../../src/index.js';
import { openNetworkState } from '../../src/network-state/index.js';
import { expectEmpty, expectNoDuplicates, storedClaims } from './invariants.js';

const WORKER = join(import.meta.dirname, 'worker.ts');

interface WorkerMessage {
  step: string;
  ipam?: string[];
  error?: string;
}

interface Worker {
  child: ChildProcess;
  messages: WorkerMessage[];
  exited: Promise<number | null>;
}

function startWorker(
  url: string,
  index: number,
  roles: string,
  pool: string,
  env: Record<string, string>,
): Worker {
  const child = fork(WORKER, [url, String(index), roles, pool], {
    execArgv: ['--import', 'tsx'],
    cwd: join(import.meta.dirname, '..', '..'),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  const messages: WorkerMessage[] = [];
  child.on('message', (m) => messages.push(m as WorkerMessage));
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += String(d);
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      if (code && stderr) console.error(`worker ${index}: ${stderr}`);
      resolve(code);
    }),
  );
  return { child, messages, exited };
}

export interface ScenarioOptions {
  /** Store URL the workers open. */
  url: string;
  /** The parent's own handle on the same store. */
  store: Store;
  replicas?: number;
  networks?: number;
  addresses?: number;
}

/**
 * Four processes on one store: workers 0 and 1 also run runAllocator (racing for the lead),
 * workers 0, 2 and 3 take addresses straight from IPAM, and worker 1 is SIGKILLed as soon as its
 * services exist (mid-allocation, maybe holding the lead). Then: no address is held twice, no
 * claim is left without an owner, and once everything is removed and reconciled the store holds
 * no pool and no claim.
 */
export async function runMultiProcessScenario(
  opts: ScenarioOptions,
): Promise<{ tasks: number; vnis: number; ipam: number }> {
  const parent = await openNetworkState(opts.store, { leaderTtlMs: 500, abandonAfterMs: 1000 });
  const workers: Worker[] = [];
  try {
    await parent.createNetwork({ name: 'shared', subnets: [{ subnet: '10.128.0.0/18' }] });
    const external = await parent.ipam.requestPool({ pool: '192.168.0.0/21', addressSpace: 'local' });
    const env = {
      NS_WORKER_REPLICAS: String(opts.replicas ?? 150),
      NS_WORKER_NETWORKS: String(opts.networks ?? 12),
      NS_WORKER_ADDRESSES: String(opts.addresses ?? 150),
    };
    const roles = ['allocator,ipam', 'allocator', 'ipam', 'ipam'];
    for (let i = 0; i < 4; i++) workers.push(startWorker(opts.url, i, roles[i], external.poolId, env));

    const victim = workers[1];
    await new Promise<void>((resolve, reject) => {
      const check = setInterval(() => {
        if (victim.messages.some((m) => m.step === 'services' || m.step === 'error')) {
          clearInterval(check);
          victim.child.kill('SIGKILL');
          resolve();
        }
      }, 5);
      victim.exited.then(() => {
        clearInterval(check);
        reject(new Error('the victim finished before it could be killed'));
      });
    });
    const codes = await Promise.all(workers.map((w) => w.exited));
    for (const [i, w] of workers.entries()) {
      const failure = w.messages.find((m) => m.step === 'error');
      expect(failure?.error, `worker ${i}`).toBeUndefined();
      if (i !== 1) expect(codes[i], `worker ${i} exit code`).toBe(0);
    }

    // The victim's half-done work: its claims are reconciled, its tasks finished by a pass.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await parent.reconcile();
    await parent.allocate();
    const held = await expectNoDuplicates(parent);
    const tasks = await parent.listTasks();
    expect(tasks.filter((t) => t.state !== 'pending')).toEqual([]);
    const shared = await parent.inspectNetwork('shared');
    // Every claim on the shared pool is a held address or the gateway: nothing leaked.
    expect((await parent.ipam.usage(shared.subnets[0].poolId)).used).toBe(held + 1);

    const networks = await parent.listNetworks();
    const vnis = networks.flatMap((n) => n.vxlanIds);
    expect(new Set(vnis).size).toBe(vnis.length);
    const vniClaims = (await storedClaims(opts.store)).filter((c) => c.space.endsWith('/vxlan'));
    expect(vniClaims.length).toBe(vnis.length);
    const subnets = networks.flatMap((n) => n.subnets.map((s) => s.subnet));
    expect(new Set(subnets).size).toBe(subnets.length);

    const direct = workers.flatMap((w) => w.messages.flatMap((m) => m.ipam ?? []));
    expect(new Set(direct).size).toBe(direct.length);
    expect((await parent.ipam.usage(external.poolId)).used).toBe(direct.length);

    // Remove everything; once reconciled, every pool is back to full (and gone).
    for (const address of direct) await parent.ipam.releaseAddress(external.poolId, address);
    expect((await parent.ipam.usage(external.poolId)).used).toBe(0);
    await parent.ipam.releasePool(external.poolId);
    for (const s of await parent.listServices()) await parent.removeService(s.id);
    expect((await parent.ipam.usage(shared.subnets[0].poolId)).used).toBe(1);
    for (const n of await parent.listNetworks()) await parent.removeNetwork(n.id);
    await parent.reconcile();
    await expectEmpty(opts.store);
    return { tasks: tasks.length, vnis: vnis.length, ipam: direct.length };
  } finally {
    for (const w of workers)
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    await parent.close();
  }
}
