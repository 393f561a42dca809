import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run as node } from '../../src/cli/node.js';
import { run as service } from '../../src/cli/service.js';
import { createStore, openNetworkState, type Store } from '../../src/index.js';

let seq = 0;

describe('kvkit node / kvkit service create for the Swarm loop', () => {
  let name: string;
  let keeper: Store;
  let out: string[];
  let err: string[];
  const sh = async (cmd: typeof node, argv: string[]) => {
    out = [];
    err = [];
    const code = await cmd(argv, {
      openStore: () => createStore(`memory://${name}`),
      stdout: (s: string) => out.push(s),
      stderr: (s: string) => err.push(s),
    });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  beforeEach(async () => {
    name = `node-cli-${process.pid}-${++seq}`;
    keeper = await createStore(`memory://${name}`);
    const net = await openNetworkState(keeper);
    await net.registerNode({
      hostname: 'w1',
      addr: '127.0.0.1',
      labels: { zone: 'a' },
      heartbeatPeriodMs: 5000,
    });
    await net.close();
  });
  afterEach(async () => {
    await keeper.close();
  });

  it("node ls prints docker's columns", async () => {
    const ls = await sh(node, ['ls']);
    expect(ls.code).toBe(0);
    const [header, row] = ls.out.split('\n');
    expect(header).toMatch(/^ID\s+HOSTNAME\s+STATUS\s+AVAILABILITY$/);
    expect(row.split(/\s+/).slice(1)).toEqual(['w1', 'Ready', 'Active']);
  });

  it('node update --availability drain, then inspect shows it, with the labels changed', async () => {
    expect(
      (
        await sh(node, [
          'update',
          '--availability',
          'drain',
          '--label-add',
          'disk=ssd',
          '--label-rm',
          'zone',
          'w1',
        ])
      ).code,
    ).toBe(0);
    const [doc] = JSON.parse((await sh(node, ['inspect', 'w1'])).out);
    expect(doc.Spec).toMatchObject({ Availability: 'drain', Labels: { disk: 'ssd' } });
  });

  it('node rm refuses a node that is not down unless forced; an unknown node is NODE_NOT_FOUND', async () => {
    expect((await sh(node, ['rm', 'w1'])).err).toMatch(/NODE_NOT_DOWN/);
    expect((await sh(node, ['rm', '--force', 'w1'])).code).toBe(0);
    const gone = await sh(node, ['inspect', 'w1']);
    expect(gone.code).toBe(1);
    expect(gone.err).toMatch(/NODE_NOT_FOUND/);
  });

  it('service create takes constraints, restart options and the command after --', async () => {
    const created = await sh(service, [
      'create',
      '--name',
      'web',
      '--replicas',
      '0',
      '--constraint',
      'node.labels.zone==a',
      '--restart-delay',
      '2s',
      '--restart-max-attempts',
      '3',
      '--detach',
      '--',
      'node',
      'server.js',
      '--port',
      '80',
    ]);
    expect(created.code).toBe(0);
    const net = await openNetworkState(keeper);
    const svc = await net.inspectService('web');
    await net.close();
    expect(svc).toMatchObject({
      constraints: ['node.labels.zone==a'],
      restartDelayMs: 2000,
      restartMaxAttempts: 3,
      command: ['node', 'server.js', '--port', '80'],
    });
  });

  it('a malformed constraint is INVALID_ARGUMENT naming it', async () => {
    const bad = await sh(service, [
      'create',
      '--name',
      'web',
      '--constraint',
      'node.labels.zone=a',
      '--detach',
    ]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/INVALID_ARGUMENT.*node\.labels\.zone=a/);
  });
});
