import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run as network } from '../../src/cli/network.js';
import { run as service } from '../../src/cli/service.js';
import { createStore, type Store } from '../../src/index.js';

let seq = 0;

describe('kvkit network / kvkit service', () => {
  let name: string;
  let keeper: Store;
  let out: string[];
  let err: string[];
  const ctx = () => ({
    openStore: () => createStore(`memory://${name}`),
    stdout: (s: string) => out.push(s),
    stderr: (s: string) => err.push(s),
  });
  const sh = async (cmd: typeof network, argv: string) => {
    out = [];
    err = [];
    const code = await cmd(argv.split(' ').filter(Boolean), ctx());
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  beforeEach(async () => {
    name = `cli-${process.pid}-${++seq}`;
    // Keeps the named memory store alive between commands, as a server would.
    keeper = await createStore(`memory://${name}`);
  });
  afterEach(async () => {
    await keeper.close();
  });

  it('the README session works as written', async () => {
    const created = await sh(network, 'create --driver overlay --subnet 10.9.0.0/24 mh_net');
    expect(created.code).toBe(0);
    expect(created.out).toMatch(/^[0-9a-z]{25}$/);
    const svc = await sh(service, 'create --name nginx --network mh_net --replicas 3 nginx');
    expect(svc.code).toBe(0);
    expect(svc.out).toContain('overall progress: 3 out of 3 tasks allocated');
    expect(svc.out).toContain('verify: Service nginx converged');
    const ps = await sh(service, 'ps nginx');
    const lines = ps.out.split('\n');
    expect(lines[0]).toMatch(
      /^ID\s+NAME\s+IMAGE\s+NODE\s+DESIRED STATE\s+CURRENT STATE\s+ADDRESSES\s+ERROR$/,
    );
    // No node yet (nothing scheduled): the NODE column is empty.
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(1, 5))).toEqual([
      ['nginx.1', 'nginx', 'running', 'pending'],
      ['nginx.2', 'nginx', 'running', 'pending'],
      ['nginx.3', 'nginx', 'running', 'pending'],
    ]);
  });

  it('network inspect prints JSON shaped like docker network inspect', async () => {
    await sh(
      network,
      'create --subnet 10.9.0.0/24 --ip-range 10.9.0.128/25 --gateway 10.9.0.254 --aux-address db=10.9.0.10 --opt com.docker.network.driver.overlay.vxlanid_list=5001 --label team=web mh_net',
    );
    const inspected = await sh(network, 'inspect mh_net');
    const [doc] = JSON.parse(inspected.out);
    expect(doc).toMatchObject({
      Name: 'mh_net',
      Driver: 'overlay',
      Scope: 'swarm',
      IPAM: {
        Driver: 'default',
        Config: [
          {
            Subnet: '10.9.0.0/24',
            IPRange: '10.9.0.128/25',
            Gateway: '10.9.0.254',
            AuxiliaryAddresses: { db: '10.9.0.10' },
          },
        ],
      },
      Options: { 'com.docker.network.driver.overlay.vxlanid_list': '5001' },
      Labels: { team: 'web' },
    });
  });

  it('network ls lists networks as a table, or JSON lines with --format json', async () => {
    await sh(network, 'create --subnet 10.9.0.0/24 mh_net');
    await sh(network, 'create --driver bridge br');
    const table = await sh(network, 'ls');
    expect(table.out.split('\n').map((l) => l.split(/\s+/).slice(1, 4))).toEqual([
      ['ID', 'NAME', 'DRIVER'],
      ['br', 'bridge', 'local'],
      ['mh_net', 'overlay', 'swarm'],
    ]);
    const json = (await sh(network, 'ls --format json')).out.split('\n').map((l) => JSON.parse(l));
    expect(json.map((n) => [n.Name, n.Subnets])).toEqual([
      ['br', ['172.17.0.0/16']],
      ['mh_net', ['10.9.0.0/24']],
    ]);
  });

  it('service create says which tasks are stuck and why, with exit code 1', async () => {
    await sh(network, 'create --subnet 10.9.0.0/29 tiny');
    const svc = await sh(service, 'create --name web --network tiny --replicas 8');
    expect(svc.code).toBe(1);
    expect(svc.err).toBe('web: 4 of 8 tasks could not be allocated: no available addresses on network tiny');
    const ps = (await sh(service, 'ps web --format json')).out.split('\n').map((l) => JSON.parse(l));
    expect(ps.filter((t) => t.CurrentState === 'new').map((t) => t.Error)).toEqual(
      Array(4).fill('no available addresses on network tiny'),
    );
  });

  it('service create --detach returns at once, leaving the tasks new', async () => {
    await sh(network, 'create --subnet 10.9.0.0/24 mh_net');
    const svc = await sh(service, 'create --name web --network mh_net --replicas 2 --detach');
    expect(svc.code).toBe(0);
    expect(svc.out).not.toContain('progress');
    const ls = (await sh(service, 'ls --format json')).out;
    expect(JSON.parse(ls)).toMatchObject({ Name: 'web', Replicas: '0/2' });
  });

  it('service scale, ls, inspect and rm work like docker’s', async () => {
    await sh(network, 'create --subnet 10.9.0.0/24 mh_net');
    await sh(service, 'create --name nginx --network mh_net --replicas 3');
    const scaled = await sh(service, 'scale nginx=5');
    expect(scaled.out).toContain('nginx scaled to 5');
    expect(scaled.out).toContain('overall progress: 5 out of 5 tasks allocated');
    expect((await sh(service, 'ls')).out.split('\n')[1]).toMatch(/nginx\s+replicated\s+5\/5/);
    const [doc] = JSON.parse((await sh(service, 'inspect nginx')).out);
    expect(doc).toMatchObject({
      Spec: { Name: 'nginx', Mode: { Replicated: { Replicas: 5 } }, EndpointSpec: { Mode: 'vip' } },
      Endpoint: { VirtualIPs: [{ Addr: '10.9.0.2/24' }] },
    });
    expect(await sh(network, 'rm mh_net')).toMatchObject({
      code: 1,
      err: expect.stringContaining('NETWORK_IN_USE'),
    });
    expect(await sh(service, 'rm nginx')).toMatchObject({ code: 0, out: 'nginx' });
    expect(await sh(network, 'rm mh_net')).toMatchObject({ code: 0, out: 'mh_net' });
  });

  it('errors print their code and message with exit code 1; bad command lines print the usage with 2', async () => {
    expect(await sh(network, 'inspect ghost')).toMatchObject({
      code: 1,
      err: 'Error: NETWORK_NOT_FOUND: network ghost not found',
    });
    const bad = await sh(network, 'create --subnet 10.9.0.5/24 x');
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('did you mean 10.9.0.0/24');
    expect((await sh(network, 'frobnicate')).code).toBe(2);
    expect((await sh(service, 'create --network x')).err).toContain('needs --name');
    expect((await sh(service, 'scale nginx')).code).toBe(2);
    expect((await sh(network, 'create --subnet 10.9.0.0/24 --gateway 10.8.0.1 x')).err).toContain(
      'no matching subnet for gateway 10.8.0.1',
    );
    expect((await sh(network, 'create --bogus x')).code).toBe(2);
  });

  it('a --store option that reaches the module is accepted and ignored', async () => {
    expect((await sh(network, 'create --store memory: --subnet 10.9.0.0/24 mh_net')).code).toBe(0);
    expect((await sh(network, 'ls --store memory:')).out).toContain('mh_net');
  });
});
