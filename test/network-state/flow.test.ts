import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { failure } from '../../src/conformance/helpers.js';
import {
  canAdvance,
  type NetworkState,
  openNetworkState,
  PENDING_MESSAGE,
  type Task,
  VXLANID_LIST_OPTION,
} from '../../src/network-state/index.js';
import { FaultyStore } from './faulty-store.js';
import { type OpenedStore, storeFactories } from './stores.js';

const addressesOf = (tasks: Task[]) => tasks.flatMap((t) => t.attachments.flatMap((a) => a.addresses));

describe.each(storeFactories)('networks, services and tasks on $name', (factory) => {
  let opened: OpenedStore;
  let net: NetworkState;

  beforeEach(async () => {
    opened = await factory.open();
    net = await openNetworkState(opened.store);
  });
  afterEach(async () => {
    await net.close();
    await opened.cleanup();
  });

  const overlay = (name = 'mh_net', subnet = '10.9.0.0/24', extra = {}) =>
    net.createNetwork({ name, driver: 'overlay', subnets: [{ subnet, ...extra }] });

  describe('networks', () => {
    it('an overlay network gets its subnet, the first usable address as gateway, a VNI and swarm scope', async () => {
      const network = await overlay();
      expect(network).toMatchObject({
        name: 'mh_net',
        driver: 'overlay',
        scope: 'swarm',
        subnets: [
          {
            subnet: '10.9.0.0/24',
            gateway: '10.9.0.1',
            auxAddresses: {},
            poolId: 'GlobalDefault/10.9.0.0/24',
          },
        ],
        vxlanIds: [4096],
        attachable: false,
        internal: false,
      });
      expect(network.id).toMatch(/^[0-9a-z]{25}$/);
    });

    it('a network without subnets gets one from the default pools', async () => {
      expect((await net.createNetwork({ name: 'auto' })).subnets[0].subnet).toBe('10.0.0.0/24');
    });

    it('a bridge network is local-scoped and draws from the local defaults without a VNI', async () => {
      const bridge = await net.createNetwork({ name: 'br', driver: 'bridge' });
      expect(bridge).toMatchObject({ scope: 'local', vxlanIds: [], subnets: [{ subnet: '172.17.0.0/16' }] });
    });

    it('a host network has no subnets', async () => {
      expect((await net.createNetwork({ name: 'host', driver: 'host' })).subnets).toEqual([]);
    });

    it('a given gateway and ip-range are kept', async () => {
      const network = await overlay('ranged', '10.9.0.0/24', {
        ipRange: '10.9.0.128/25',
        gateway: '10.9.0.254',
      });
      expect(network.subnets[0]).toMatchObject({
        gateway: '10.9.0.254',
        ipRange: '10.9.0.128/25',
        poolId: 'GlobalDefault/10.9.0.0/24/10.9.0.128/25',
      });
    });

    it('without a gateway, an ip-range network takes its gateway from the range', async () => {
      const network = await overlay('ranged', '10.9.0.0/24', { ipRange: '10.9.0.128/25' });
      expect(network.subnets[0].gateway).toBe('10.9.0.128');
    });

    it('a gateway, ip-range or aux address outside the subnet is INVALID_ARGUMENT naming it', async () => {
      for (const extra of [
        { gateway: '10.9.1.1' },
        { ipRange: '10.8.0.0/25' },
        { auxAddresses: { db: '10.9.9.9' } },
        { gateway: '10.9.0.255' },
      ]) {
        const err = await failure(() => overlay('bad', '10.9.0.0/24', extra));
        expect(err.code).toBe('INVALID_ARGUMENT');
        expect(err.message).toContain(
          Object.values(extra)[0] instanceof Object ? '10.9.9.9' : (Object.values(extra)[0] as string),
        );
      }
      expect(await net.listNetworks()).toEqual([]);
    });

    it('NETWORK_EXISTS when the name is taken', async () => {
      await overlay();
      const err = await failure(() => overlay('mh_net', '10.10.0.0/24'));
      expect(err.code).toBe('NETWORK_EXISTS');
      expect(err.message).toContain('mh_net');
    });

    it('an invalid name or driver is INVALID_ARGUMENT naming it', async () => {
      expect((await failure(() => net.createNetwork({ name: 'a/b' }))).message).toContain('"a/b"');
      expect(
        (await failure(() => net.createNetwork({ name: 'x', driver: 'weave' as 'overlay' }))).message,
      ).toContain('weave');
    });

    it('a subnet overlapping another network is POOL_OVERLAP and leaves nothing behind', async () => {
      await overlay();
      const err = await failure(() => overlay('other', '10.9.0.128/25'));
      expect(err.code).toBe('POOL_OVERLAP');
      expect((await net.listNetworks()).map((n) => n.name)).toEqual(['mh_net']);
    });

    it('a failed creation releases what it had reserved', async () => {
      const err = await failure(() =>
        net.createNetwork({ name: 'two', subnets: [{ subnet: '10.9.0.0/24' }, { subnet: '10.9.0.0/25' }] }),
      );
      expect(err.code).toBe('POOL_OVERLAP');
      await expect(overlay('again', '10.9.0.0/24')).resolves.toMatchObject({ vxlanIds: [4096] });
    });

    it('aux addresses are reserved and never handed to tasks', async () => {
      await overlay('small', '10.9.0.0/29', { auxAddresses: { db: '10.9.0.3', cache: '10.9.0.4' } });
      await net.createService({ name: 'web', networks: ['small'], replicas: 3, endpointMode: 'dnsrr' });
      await net.allocate();
      const tasks = await net.listTasks({ service: 'web' });
      expect(addressesOf(tasks.filter((t) => t.state === 'pending'))).toEqual([
        '10.9.0.2/29',
        '10.9.0.5/29',
        '10.9.0.6/29',
      ]);
    });

    it('an aux address equal to the gateway is IP_ALREADY_ALLOCATED', async () => {
      const err = await failure(() =>
        overlay('clash', '10.9.0.0/24', { gateway: '10.9.0.1', auxAddresses: { gw: '10.9.0.1' } }),
      );
      expect(err.code).toBe('IP_ALREADY_ALLOCATED');
      expect(err.message).toContain('10.9.0.1');
    });

    it('inspectNetwork finds a network by name, id or id prefix; NETWORK_NOT_FOUND otherwise', async () => {
      const network = await overlay();
      expect((await net.inspectNetwork('mh_net')).id).toBe(network.id);
      expect((await net.inspectNetwork(network.id)).name).toBe('mh_net');
      expect((await net.inspectNetwork(network.id.slice(0, 8))).name).toBe('mh_net');
      const err = await failure(() => net.inspectNetwork('nope'));
      expect(err.code).toBe('NETWORK_NOT_FOUND');
      expect(err.message).toContain('nope');
    });

    it('removeNetwork releases its pool and VNI', async () => {
      await overlay();
      await net.removeNetwork('mh_net');
      expect(await net.listNetworks()).toEqual([]);
      await expect(net.ipam.requestPool({ pool: '10.9.0.0/24' })).resolves.toBeDefined();
      expect((await failure(() => net.removeNetwork('mh_net'))).code).toBe('NETWORK_NOT_FOUND');
    });

    it('removing a network a service uses is NETWORK_IN_USE naming the service, and changes nothing', async () => {
      await overlay();
      await net.createService({ name: 'nginx', networks: ['mh_net'], replicas: 1 });
      const err = await failure(() => net.removeNetwork('mh_net'));
      expect(err.code).toBe('NETWORK_IN_USE');
      expect(err.message).toContain('nginx');
      await net.createService({ name: 'later', networks: ['mh_net'], replicas: 0 });
    });
  });

  describe('VXLAN IDs', () => {
    it('overlay networks get VNIs serially from 4096', async () => {
      expect((await overlay('a', '10.9.1.0/24')).vxlanIds).toEqual([4096]);
      expect((await overlay('b', '10.9.2.0/24')).vxlanIds).toEqual([4097]);
    });

    it('a freed VNI is not handed straight back', async () => {
      await overlay('a', '10.9.1.0/24');
      await net.removeNetwork('a');
      expect((await overlay('b', '10.9.2.0/24')).vxlanIds).toEqual([4097]);
    });

    it('one VNI per IPv4 subnet, none for IPv6 subnets', async () => {
      const network = await net.createNetwork({
        name: 'dual',
        subnets: [{ subnet: '10.9.1.0/24' }, { subnet: '10.9.2.0/24' }, { subnet: 'fd00:9::/64' }],
      });
      expect(network.vxlanIds).toEqual([4096, 4097]);
      expect(network.subnets.map((s) => s.gateway)).toEqual(['10.9.1.1', '10.9.2.1', 'fd00:9::1']);
    });

    it('user-given VNIs are honoured and written back into the options', async () => {
      const network = await net.createNetwork({
        name: 'given',
        subnets: [{ subnet: '10.9.1.0/24' }],
        options: { [VXLANID_LIST_OPTION]: '5000' },
      });
      expect(network.vxlanIds).toEqual([5000]);
      expect(network.options[VXLANID_LIST_OPTION]).toBe('5000');
    });

    it('a user-given VNI already in use is INVALID_ARGUMENT naming it, and the network is not created', async () => {
      await overlay('a', '10.9.1.0/24');
      const err = await failure(() =>
        net.createNetwork({
          name: 'b',
          subnets: [{ subnet: '10.9.2.0/24' }],
          options: { [VXLANID_LIST_OPTION]: '4096' },
        }),
      );
      expect(err.code).toBe('INVALID_ARGUMENT');
      expect(err.message).toContain('4096');
      expect((await net.listNetworks()).map((n) => n.name)).toEqual(['a']);
    });

    it('fewer user-given VNIs than IPv4 subnets is INVALID_ARGUMENT', async () => {
      const err = await failure(() =>
        net.createNetwork({
          name: 'b',
          subnets: [{ subnet: '10.9.1.0/24' }, { subnet: '10.9.2.0/24' }],
          options: { [VXLANID_LIST_OPTION]: '5000' },
        }),
      );
      expect(err.code).toBe('INVALID_ARGUMENT');
    });

    it('VNIs come from the configured range; NO_AVAILABLE_POOL when it is used up', async () => {
      const narrow = await openNetworkState(opened.store, {
        prefix: 'narrow',
        vxlanRange: { start: 7000, end: 7001 },
      });
      expect((await narrow.createNetwork({ name: 'a' })).vxlanIds).toEqual([7000]);
      expect((await narrow.createNetwork({ name: 'b' })).vxlanIds).toEqual([7001]);
      const err = await failure(() => narrow.createNetwork({ name: 'c' }));
      expect(err.code).toBe('NO_AVAILABLE_POOL');
      expect(err.message).toContain('7000-7001');
      expect((await narrow.listNetworks()).map((n) => n.name)).toEqual(['a', 'b']);
      await narrow.close();
    });
  });

  describe('services and tasks', () => {
    it('createService commits one task per replica, state new, slots from 1', async () => {
      await overlay();
      const service = await net.createService({ name: 'nginx', networks: ['mh_net'], replicas: 3 });
      const tasks = await net.listTasks({ service: 'nginx' });
      expect(tasks.map((t) => [t.slot, t.state, t.serviceId])).toEqual([
        [1, 'new', service.id],
        [2, 'new', service.id],
        [3, 'new', service.id],
      ]);
      expect(service.virtualIps).toEqual([]);
    });

    it('allocate gives the service a VIP, then each task an address, committed pending', async () => {
      const network = await overlay();
      await net.createService({ name: 'nginx', networks: ['mh_net'], replicas: 3 });
      expect(await net.allocate()).toEqual({ allocated: 3, unallocated: 0 });
      expect((await net.inspectService('nginx')).virtualIps).toEqual([
        { networkId: network.id, addr: '10.9.0.2/24' },
      ]);
      const tasks = await net.listTasks({ service: 'nginx' });
      expect(tasks.map((t) => [t.state, t.message])).toEqual(Array(3).fill(['pending', PENDING_MESSAGE]));
      expect(tasks.map((t) => t.attachments)).toEqual(
        ['10.9.0.3/24', '10.9.0.4/24', '10.9.0.5/24'].map((a) => [{ networkId: network.id, addresses: [a] }]),
      );
    });

    it('a dnsrr service gets no VIP', async () => {
      await overlay();
      await net.createService({ name: 'rr', networks: ['mh_net'], replicas: 1, endpointMode: 'dnsrr' });
      await net.allocate();
      expect((await net.inspectService('rr')).virtualIps).toEqual([]);
      expect(addressesOf(await net.listTasks({ service: 'rr' }))).toEqual(['10.9.0.2/24']);
    });

    it('a task on two networks gets one address on each', async () => {
      await overlay('front', '10.9.1.0/24');
      await overlay('back', '10.9.2.0/24');
      await net.createService({
        name: 'app',
        networks: ['front', 'back'],
        replicas: 1,
        endpointMode: 'dnsrr',
      });
      await net.allocate();
      expect(addressesOf(await net.listTasks({ service: 'app' }))).toEqual(['10.9.1.2/24', '10.9.2.2/24']);
    });

    it('tasks on an IPv6 /64 get ::2 onwards, and their addresses come back on removal', async () => {
      const network = await net.createNetwork({ name: 'v6', subnets: [{ subnet: 'fd00:9::/64' }] });
      expect(network.vxlanIds).toEqual([]);
      await net.createService({ name: 'web', networks: ['v6'], replicas: 3, endpointMode: 'dnsrr' });
      await net.allocate();
      expect(addressesOf(await net.listTasks({ service: 'web' }))).toEqual([
        'fd00:9::2/64',
        'fd00:9::3/64',
        'fd00:9::4/64',
      ]);
      await net.removeService('web');
      expect(await net.reconcile()).toMatchObject({ freedAddresses: 0 });
      expect(await net.ipam.usage(network.subnets[0].poolId)).toMatchObject({ used: 1 });
    });

    it('a task on a dual-stack network gets one address, from the first subnet with room', async () => {
      await net.createNetwork({
        name: 'dual',
        subnets: [{ subnet: '10.9.0.0/30' }, { subnet: 'fd00:9::/64' }],
      });
      await net.createService({ name: 'web', networks: ['dual'], replicas: 2, endpointMode: 'dnsrr' });
      await net.allocate();
      expect(addressesOf(await net.listTasks({ service: 'web' }))).toEqual(['10.9.0.2/30', 'fd00:9::2/64']);
    });

    it('all or nothing: a task whose second network is full holds no address on the first', async () => {
      await overlay('front', '10.9.1.0/24');
      await overlay('tiny', '10.9.2.0/30');
      await net.createService({ name: 'filler', networks: ['tiny'], replicas: 1, endpointMode: 'dnsrr' });
      await net.allocate();
      await net.createService({
        name: 'app',
        networks: ['front', 'tiny'],
        replicas: 1,
        endpointMode: 'dnsrr',
      });
      expect(await net.allocate()).toEqual({ allocated: 0, unallocated: 1 });
      const [task] = await net.listTasks({ service: 'app' });
      expect(task.state).toBe('new');
      expect(task.attachments).toEqual([]);
      expect(await net.ipam.usage((await net.inspectNetwork('front')).subnets[0].poolId)).toMatchObject({
        used: 1,
      });
    });

    it('a task that cannot be allocated stays new with a message naming the network', async () => {
      await overlay('tiny', '10.9.0.0/29');
      await net.createService({ name: 'nginx', networks: ['tiny'], replicas: 6 });
      expect(await net.allocate()).toEqual({ allocated: 4, unallocated: 2 });
      const stuck = (await net.listTasks({ service: 'nginx' })).filter((t) => t.state === 'new');
      expect(stuck.map((t) => t.message)).toEqual(Array(2).fill('no available addresses on network tiny'));
    });

    it('a stuck task is allocated once something is released', async () => {
      await overlay('tiny', '10.9.0.0/29');
      await net.createService({ name: 'a', networks: ['tiny'], replicas: 5, endpointMode: 'dnsrr' });
      await net.allocate();
      await net.createService({ name: 'b', networks: ['tiny'], replicas: 1, endpointMode: 'dnsrr' });
      await net.allocate();
      expect((await net.listTasks({ service: 'b' }))[0].state).toBe('new');
      await net.scaleService('a', 4);
      await net.allocate();
      expect((await net.listTasks({ service: 'b' }))[0]).toMatchObject({
        state: 'pending',
        message: PENDING_MESSAGE,
      });
    });

    it('a service whose VIP cannot be allocated holds its tasks back with a message saying so', async () => {
      await overlay('tiny', '10.9.0.0/30');
      await net.createService({ name: 'filler', networks: ['tiny'], replicas: 1, endpointMode: 'dnsrr' });
      await net.allocate();
      await net.createService({ name: 'vip', networks: ['tiny'], replicas: 1 });
      await net.allocate();
      const [task] = await net.listTasks({ service: 'vip' });
      expect(task.state).toBe('new');
      expect(task.message).toMatch(/virtual IP of service vip: no available addresses on network tiny/);
    });

    it('scaling down releases the removed tasks’ addresses; scaling up adds new tasks', async () => {
      const network = await overlay();
      await net.createService({ name: 'nginx', networks: ['mh_net'], replicas: 5 });
      await net.allocate();
      const poolId = network.subnets[0].poolId;
      expect(await net.ipam.usage(poolId)).toMatchObject({ used: 7 });
      await net.scaleService('nginx', 2);
      expect((await net.listTasks({ service: 'nginx' })).map((t) => t.slot)).toEqual([1, 2]);
      expect(await net.ipam.usage(poolId)).toMatchObject({ used: 4 });
      const scaled = await net.scaleService('nginx', 4);
      expect(scaled.replicas).toBe(4);
      expect((await net.listTasks({ service: 'nginx' })).map((t) => t.state)).toEqual([
        'pending',
        'pending',
        'new',
        'new',
      ]);
    });

    it('serial allocation gives scaled-up tasks new addresses, not the ones just freed', async () => {
      await overlay();
      await net.createService({ name: 'nginx', networks: ['mh_net'], replicas: 3 });
      await net.allocate();
      await net.scaleService('nginx', 2);
      await net.scaleService('nginx', 3);
      await net.allocate();
      expect(addressesOf(await net.listTasks({ service: 'nginx' }))).toEqual([
        '10.9.0.3/24',
        '10.9.0.4/24',
        '10.9.0.6/24',
      ]);
    });

    it('removing a service releases its tasks’ and VIP’s addresses', async () => {
      const network = await overlay();
      await net.createService({ name: 'nginx', networks: ['mh_net'], replicas: 3 });
      await net.allocate();
      await net.removeService('nginx');
      expect(await net.listTasks()).toEqual([]);
      expect(await net.listServices()).toEqual([]);
      expect(await net.ipam.usage(network.subnets[0].poolId)).toMatchObject({ used: 1 });
      await net.removeNetwork('mh_net');
    });

    it('a second pass changes nothing', async () => {
      await overlay();
      await net.createService({ name: 'nginx', networks: ['mh_net'], replicas: 3 });
      await net.allocate();
      const before = await net.listTasks();
      expect(await net.allocate()).toEqual({ allocated: 0, unallocated: 0 });
      expect(await net.listTasks()).toEqual(before);
    });

    it('a restarted NetworkState keeps allocating after the last address handed out', async () => {
      await overlay();
      await net.createService({ name: 'a', networks: ['mh_net'], replicas: 2, endpointMode: 'dnsrr' });
      await net.allocate();
      await net.scaleService('a', 1);
      const restarted = await openNetworkState(await opened.reopen());
      await restarted.createService({ name: 'b', networks: ['mh_net'], replicas: 1, endpointMode: 'dnsrr' });
      await restarted.allocate();
      expect(addressesOf(await restarted.listTasks({ service: 'b' }))).toEqual(['10.9.0.4/24']);
      await restarted.close();
    });

    it('SERVICE_EXISTS when the name is taken', async () => {
      await overlay();
      await net.createService({ name: 'nginx', networks: ['mh_net'], replicas: 1 });
      const err = await failure(() =>
        net.createService({ name: 'nginx', networks: ['mh_net'], replicas: 1 }),
      );
      expect(err.code).toBe('SERVICE_EXISTS');
      expect(err.message).toContain('nginx');
    });

    it('a negative or fractional replica count is INVALID_ARGUMENT naming it', async () => {
      await overlay();
      expect(
        (await failure(() => net.createService({ name: 'x', networks: ['mh_net'], replicas: -1 }))).message,
      ).toContain('-1');
      await net.createService({ name: 'y', networks: ['mh_net'], replicas: 1 });
      const err = await failure(() => net.scaleService('y', 1.5));
      expect(err.code).toBe('INVALID_ARGUMENT');
      expect(err.message).toContain('1.5');
    });

    it('a service on an unknown network is NETWORK_NOT_FOUND naming it', async () => {
      const err = await failure(() => net.createService({ name: 'x', networks: ['ghost'], replicas: 1 }));
      expect(err.code).toBe('NETWORK_NOT_FOUND');
      expect(err.message).toContain('ghost');
      expect(await net.listServices()).toEqual([]);
    });

    it('SERVICE_NOT_FOUND for inspect, scale and remove of an unknown service, naming it', async () => {
      for (const call of [
        net.inspectService('ghost'),
        net.scaleService('ghost', 1),
        net.removeService('ghost'),
        net.listTasks({ service: 'ghost' }),
      ]) {
        const err = await failure(() => call);
        expect(err.code).toBe('SERVICE_NOT_FOUND');
        expect(err.message).toContain('ghost');
      }
    });

    it('an address held by a task cannot be released through IPAM', async () => {
      const network = await overlay();
      await net.createService({ name: 'nginx', networks: ['mh_net'], replicas: 1, endpointMode: 'dnsrr' });
      await net.allocate();
      const err = await failure(() => net.ipam.releaseAddress(network.subnets[0].poolId, '10.9.0.2'));
      expect(err.code).toBe('INVALID_ARGUMENT');
      expect(err.message).toMatch(/held by task/);
    });

    it('a network’s pool cannot be released through IPAM', async () => {
      const network = await overlay();
      expect((await failure(() => net.ipam.releasePool(network.subnets[0].poolId))).message).toMatch(
        /belongs to network/,
      );
    });

    it('task states only move forward', async () => {
      await overlay();
      await net.createService({ name: 'nginx', networks: ['mh_net'], replicas: 1 });
      await net.allocate();
      const [task] = await net.listTasks();
      expect((await net.updateTaskState(task.id, 'running')).state).toBe('running');
      const err = await failure(() => net.updateTaskState(task.id, 'pending'));
      expect(err.code).toBe('INVALID_ARGUMENT');
      expect(err.message).toContain('running back to pending');
      expect(canAdvance('new', 'orphaned')).toBe(true);
      expect(canAdvance('complete', 'running')).toBe(false);
    });

    it('allocation never moves a task that has gone past new', async () => {
      await overlay();
      await net.createService({ name: 'nginx', networks: ['mh_net'], replicas: 1 });
      const [task] = await net.listTasks();
      await net.updateTaskState(task.id, 'rejected', 'no node');
      await net.allocate();
      expect((await net.listTasks())[0]).toMatchObject({ state: 'rejected', attachments: [] });
    });
  });

  describe('release paths', () => {
    it('a removal completes every step even when one fails midway; the failed one is retried', async () => {
      const faulty = new FaultyStore(opened.store);
      const flaky = await openNetworkState(faulty.store);
      const a = await flaky.createNetwork({ name: 'a', subnets: [{ subnet: '10.9.1.0/24' }] });
      const b = await flaky.createNetwork({ name: 'b', subnets: [{ subnet: '10.9.2.0/24' }] });
      await flaky.createService({ name: 'app', networks: ['a', 'b'], replicas: 3 });
      await flaky.allocate();
      // Every write to a's claims fails for now: b's addresses must be freed all the same.
      const space = JSON.parse(
        new TextDecoder().decode((await opened.store.get('kvkit/network/ipam/spaces/GlobalDefault')).value),
      );
      const aClaims = `ipam/pools/${space.pools['10.9.1.0/24'].instance}/`;
      const heal = faulty.failWhile((key) => key.includes(aClaims));
      await flaky.removeService('app');
      expect(await flaky.listServices()).toEqual([]);
      const used = async () => [
        (await flaky.ipam.usage(a.subnets[0].poolId)).used,
        (await flaky.ipam.usage(b.subnets[0].poolId)).used,
      ];
      expect(await used()).toEqual([5, 1]);
      heal();
      await flaky.allocate();
      expect(await used()).toEqual([1, 1]);
      await flaky.close();
    });

    it('removing a network completes even if releasing its VNI fails, and reconcile frees the VNI', async () => {
      const faulty = new FaultyStore(opened.store);
      const flaky = await openNetworkState(faulty.store);
      await flaky.createNetwork({ name: 'a', subnets: [{ subnet: '10.9.1.0/24' }] });
      faulty.failOnce((key) => key.includes('/vxlan/chunks/'));
      await flaky.removeNetwork('a');
      expect(await flaky.listNetworks()).toEqual([]);
      const other = await openNetworkState(opened.store);
      expect((await other.reconcile()).freedVnis).toBe(1);
      expect(
        (await other.createNetwork({ name: 'b', options: { [VXLANID_LIST_OPTION]: '4096' } })).vxlanIds,
      ).toEqual([4096]);
      await other.close();
      await flaky.close();
    });
  });
});
