/** Every name form and the answers it gets, through real resolvers (dig and Node's Resolver). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Service, Task } from '../../../src/index.js';
import { bare, DnsFixture, ipsOf, sortIps } from './support.js';

describe('DNS names for services and tasks', () => {
  let f: DnsFixture;
  let web: { service: Service; tasks: Task[] };
  let rr: { service: Service; tasks: Task[] };
  let front: string;
  let back: string;
  const vipOf = (s: Service, networkId: string) =>
    bare(s.virtualIps.find((v) => v.networkId === networkId)?.addr ?? '');
  const addrOf = (t: Task, networkId: string) =>
    bare(t.attachments.find((a) => a.networkId === networkId)?.addresses[0] ?? '');

  beforeAll(async () => {
    f = await DnsFixture.start({}, async (net) => {
      front = (await net.createNetwork({ name: 'front', subnets: [{ subnet: '10.10.0.0/24' }] })).id;
      back = (await net.createNetwork({ name: 'back', subnets: [{ subnet: '10.20.0.0/24' }] })).id;
    });
    web = await f.service({ name: 'web', networks: ['front', 'back'], replicas: 3 });
    rr = await f.service({ name: 'rr', networks: ['front'], replicas: 2, endpointMode: 'dnsrr' });
    await f.service({ name: 'idle', networks: ['front'], replicas: 2, endpointMode: 'dnsrr' }, 0);
    // Wait until the server has seen the last change.
    await f.digUntil((a) => ipsOf(a).length === 2, ['tasks.rr']);
  }, 120_000);
  afterAll(async () => {
    await f?.close();
  });

  it('<service> in vip mode answers its VIP on each served network', async () => {
    expect(sortIps(await f.resolver().resolve4('web'))).toEqual(
      sortIps([vipOf(web.service, front), vipOf(web.service, back)]),
    );
  });

  it('<service> in dnsrr mode answers the addresses of its running tasks', async () => {
    expect(sortIps(await f.resolver().resolve4('rr'))).toEqual(
      sortIps(rr.tasks.map((t) => addrOf(t, front))),
    );
  });

  it('tasks.<service> answers the running tasks in vip mode', async () => {
    expect(ipsOf(await f.dig('tasks.web'))).toEqual(await f.runningAddresses('web'));
  });

  it('tasks.<service> answers the running tasks in dnsrr mode', async () => {
    expect(ipsOf(await f.dig('tasks.rr'))).toEqual(await f.runningAddresses('rr'));
  });

  it('<service>.<network> answers the VIP on that network only', async () => {
    expect(await f.resolver().resolve4('web.back')).toEqual([vipOf(web.service, back)]);
  });

  it('tasks.<service>.<network> answers the tasks on that network only', async () => {
    expect(ipsOf(await f.dig('tasks.web.back'))).toEqual(await f.runningAddresses('web', back));
  });

  it('<service>.<slot>.<task-id> answers that task’s addresses', async () => {
    const task = web.tasks[1];
    expect(ipsOf(await f.dig(`web.${task.slot}.${task.id}`))).toEqual(
      sortIps([addrOf(task, front), addrOf(task, back)]),
    );
  });

  it('a service with no running task owns its names: NOERROR with no answer', async () => {
    const answer = await f.dig('tasks.idle');
    expect(answer.status).toBe('NOERROR');
    expect(answer.answers).toEqual([]);
    await expect(f.resolver().resolve4('idle')).rejects.toMatchObject({ code: 'ENODATA' });
  });

  it('PTR of a task address is <service>.<slot>.<task-id>.<network>.', async () => {
    const task = web.tasks[0];
    expect(await f.resolver().reverse(addrOf(task, back))).toEqual([`web.${task.slot}.${task.id}.back`]);
    expect((await f.dig('-x', addrOf(task, front))).answers.map((a) => a.data)).toEqual([
      `web.${task.slot}.${task.id}.front.`,
    ]);
  });

  it('PTR of a VIP is <service>.<network>. (Docker has none, moby#46701)', async () => {
    expect(await f.resolver().reverse(vipOf(web.service, front))).toEqual(['web.front']);
  });

  it('names are case-insensitive and answered in the question’s case', async () => {
    const answer = await f.dig('WeB.BaCk');
    expect(answer.answers).toEqual([
      { name: 'WeB.BaCk.', ttl: 600, type: 'A', data: vipOf(web.service, back) },
    ]);
  });

  it('answers are authoritative and carry the default TTL of 600 s', async () => {
    const answer = await f.dig('tasks.web');
    expect(answer.flags).toContain('aa');
    expect(answer.answers.every((a) => a.ttl === 600)).toBe(true);
  });

  it('AAAA for a name with only IPv4 is NOERROR with no answer (moby#35118)', async () => {
    const answer = await f.dig('web', 'AAAA');
    expect(answer.status).toBe('NOERROR');
    expect(answer.answers).toEqual([]);
    await expect(f.resolver().resolve6('web')).rejects.toMatchObject({ code: 'ENODATA' });
  });

  it('a name it does not own is NXDOMAIN when no upstream is configured', async () => {
    expect((await f.dig('nothing.example')).status).toBe('NXDOMAIN');
    await expect(f.resolver().resolve4('tasks.nothing')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  it('answers are shuffled on every reply (compose#3251)', async () => {
    const orders = new Set<string>();
    const resolver = f.resolver();
    for (let i = 0; i < 30; i++) orders.add((await resolver.resolve4('tasks.web')).join(','));
    expect(orders.size).toBeGreaterThan(1);
  });

  it('each address is answered once (moby#37892)', async () => {
    const ips = ipsOf(await f.dig('tasks.web'));
    expect(new Set(ips).size).toBe(ips.length);
  });
});

describe('DNS server options', () => {
  it('serves only the given networks', async () => {
    const f = await DnsFixture.start({ networks: ['back'] }, async (net) => {
      await net.createNetwork({ name: 'front', subnets: [{ subnet: '10.10.0.0/24' }] });
      await net.createNetwork({ name: 'back', subnets: [{ subnet: '10.20.0.0/24' }] });
      await net.createService({ name: 'web', networks: ['front', 'back'], replicas: 0 });
      await net.allocate();
    });
    try {
      const web = await f.net.inspectService('web');
      const backVip = web.virtualIps.find((v) => v.networkId !== web.networks[0]);
      expect(await f.resolver().resolve4('web')).toEqual([bare(backVip?.addr ?? '')]);
      expect((await f.dig('web.front')).status).toBe('NXDOMAIN');
    } finally {
      await f.close();
    }
  });

  it('uses the configured TTL', async () => {
    const f = await DnsFixture.start({ ttl: 5 }, async (net) => {
      await net.createNetwork({ name: 'front', subnets: [{ subnet: '10.10.0.0/24' }] });
      await net.createService({ name: 'web', networks: ['front'], replicas: 0 });
      await net.allocate();
    });
    try {
      expect((await f.dig('web')).answers.map((a) => a.ttl)).toEqual([5]);
    } finally {
      await f.close();
    }
  });

  it('a name two services claim answers only the older service (moby#26733)', async () => {
    const f = await DnsFixture.start({}, async (net) => {
      await net.createNetwork({ name: 'front', subnets: [{ subnet: '10.10.0.0/24' }] });
      await net.createService({ name: 'web', networks: ['front'], replicas: 0 });
      // createdAt has millisecond precision; within one millisecond the tie goes by id.
      const created = Date.now();
      while (Date.now() <= created) await new Promise((r) => setTimeout(r, 1));
      await net.createService({ name: 'WEB', networks: ['front'], replicas: 0 });
      await net.allocate();
    });
    try {
      const older = await f.net.inspectService('web');
      expect(await f.resolver().resolve4('Web')).toEqual([bare(older.virtualIps[0].addr)]);
    } finally {
      await f.close();
    }
  });
});
