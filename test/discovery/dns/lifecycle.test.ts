/** Records follow the store: tasks enter DNS when running and leave when they stop; scaling and removal show. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { delay } from '../../../src/conformance/helpers.js';
import { createStore, openNetworkState, startDnsServer } from '../../../src/index.js';
import { FlakyWatchStore } from '../flaky-watch.js';
import { bare, DnsFixture, ipsOf, resolverAt, sortIps } from './support.js';

/** A deadline against hangs: answers normally follow the store within milliseconds. */
const WAIT_MS = 30_000;

/** Polls `tasks`-style lookups until they equal `expected` (ENODATA/ENOTFOUND read as []); returns the last answer. */
async function answersBecome(
  lookup: () => Promise<string[]>,
  expected: string[],
  ms = WAIT_MS,
): Promise<string[]> {
  const deadline = Date.now() + ms;
  let last: string[] = [];
  for (;;) {
    last = sortIps(
      await lookup().catch((err) => (['ENODATA', 'ENOTFOUND'].includes(err.code) ? [] : Promise.reject(err))),
    );
    if (JSON.stringify(last) === JSON.stringify(sortIps(expected)) || Date.now() > deadline) return last;
    await delay(20);
  }
}

describe('DNS follows network state', () => {
  let f: DnsFixture;
  beforeEach(async () => {
    f = await DnsFixture.start({}, async (net) => {
      await net.createNetwork({ name: 'front', subnets: [{ subnet: '10.10.0.0/24' }] });
    });
  });
  afterEach(async () => {
    await f.close();
  });
  const tasksOf = (name: string) => () => f.resolver().resolve4(`tasks.${name}`);

  it('a task is answered once it is running, not while pending', async () => {
    const { tasks } = await f.service({ name: 'web', networks: ['front'], replicas: 2 }, 0);
    expect(await answersBecome(tasksOf('web'), [], 500)).toEqual([]);
    await f.net.updateTaskState(tasks[0].id, 'running');
    expect(await answersBecome(tasksOf('web'), [bare(tasks[0].attachments[0].addresses[0])])).toEqual([
      bare(tasks[0].attachments[0].addresses[0]),
    ]);
  });

  it.each(['complete', 'shutdown', 'failed'] as const)(
    'a task that moves to %s leaves DNS',
    async (state) => {
      const { tasks } = await f.service({ name: 'web', networks: ['front'], replicas: 2 });
      await answersBecome(tasksOf('web'), await f.runningAddresses('web'));
      await f.net.updateTaskState(tasks[1].id, state);
      const expected = [bare(tasks[0].attachments[0].addresses[0])];
      expect(await answersBecome(tasksOf('web'), expected)).toEqual(expected);
    },
  );

  it('scaling 3 → 1 → 3 leaves tasks.<service> equal to the store after each step (moby#29529)', async () => {
    await f.service({ name: 'web', networks: ['front'], replicas: 3 });
    for (const replicas of [3, 1, 3]) {
      await f.net.scaleService('web', replicas);
      await f.net.allocate();
      for (const t of await f.net.listTasks({ service: 'web' }))
        if (t.state !== 'running') await f.net.updateTaskState(t.id, 'running');
      const inStore = await f.runningAddresses('web');
      expect(inStore).toHaveLength(replicas);
      expect(await answersBecome(tasksOf('web'), inStore)).toEqual(inStore);
      expect(ipsOf(await f.dig('tasks.web'))).toEqual(inStore);
    }
  });

  it('a service created after the server started is answered, and a removed one is gone', async () => {
    const { service } = await f.service({ name: 'api', networks: ['front'], replicas: 1 });
    const vip = [bare(service.virtualIps[0].addr)];
    expect(await answersBecome(() => f.resolver().resolve4('api'), vip)).toEqual(vip);
    await f.net.removeService('api');
    await answersBecome(() => f.resolver().resolve4('api'), []);
    await expect(f.resolver().resolve4('api')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });
});

describe('DNS after a store watch failure', () => {
  it('resyncs from the current state when its watch restarts (moby#42833)', async () => {
    const store = await createStore('memory:');
    const flaky = new FlakyWatchStore(store);
    const net = await openNetworkState(store);
    const errors: unknown[] = [];
    await net.createNetwork({ name: 'front', subnets: [{ subnet: '10.10.0.0/24' }] });
    const dns = await startDnsServer({
      store: flaky.store,
      listen: '127.0.0.1:0',
      onError: (e) => errors.push(e),
    });
    try {
      flaky.failOpens = 3;
      flaky.breakWatches();
      const service = await net.createService({ name: 'web', networks: ['front'], replicas: 0 });
      await net.allocate();
      const vip = bare((await net.inspectService(service.id)).virtualIps[0].addr);
      const resolver = resolverAt(dns.address.port);
      expect(await answersBecome(() => resolver.resolve4('web'), [vip])).toEqual([vip]);
      expect(errors.length).toBeGreaterThanOrEqual(1);
    } finally {
      await dns.close();
      await net.close();
      await store.close();
    }
  });
});
