import { describe, expect, it } from 'vitest';
import type { NetworkRecord, ServiceRecord, TaskRecord } from '../../src/network-state/records.js';
import { assignmentsByNode } from '../../src/swarm/dispatcher.js';
import { decodeAssignment, encodeAssignment } from '../../src/swarm/wire.js';

const network = (name: string) => ({ id: 'net1', name }) as NetworkRecord;
const service = (extra: Partial<ServiceRecord> = {}) =>
  ({
    id: 'svc1',
    name: 'web',
    virtualIps: [{ networkId: 'net1', addr: '10.0.0.2/24' }],
    status: 'allocated',
    ...extra,
  }) as ServiceRecord;
const task = (slot: number, nodeId: string, extra: Partial<TaskRecord> = {}) =>
  ({
    id: `t${slot}`,
    serviceId: 'svc1',
    slot,
    nodeId,
    state: 'running',
    desiredState: 'running',
    message: '',
    attachments: [{ networkId: 'net1', addresses: [`10.0.0.${slot + 10}/24`] }],
    ...extra,
  }) as TaskRecord;

describe('assignmentsByNode', () => {
  it('gives each node its tasks, sorted by id, encoded as encodeAssignment does', () => {
    const records = [task(2, 'n1'), task(1, 'n1'), task(3, 'n2', { state: 'complete' })];
    const out = assignmentsByNode(records, new Map([['svc1', service()]]), new Map([['net1', network('a')]]));
    expect([...out.keys()]).toEqual(['n1']);
    const tasks = decodeAssignment(JSON.parse(out.get('n1') as string));
    expect(tasks?.map((t) => t.id)).toEqual(['t1', 't2']);
    expect(out.get('n1')).toBe(encodeAssignment(tasks ?? []));
    expect(tasks?.[0].networks[0]).toEqual({
      networkId: 'net1',
      network: 'a',
      addresses: ['10.0.0.11/24'],
      vip: '10.0.0.2/24',
    });
  });

  it('a retired task still on a node is assigned there, told to shut down', () => {
    const retired = { ...task(1, 'n2'), id: 'old', desiredState: 'shutdown' as const };
    const out = assignmentsByNode(
      [task(1, 'n1', { retired: [retired] })],
      new Map([['svc1', service()]]),
      new Map([['net1', network('a')]]),
    );
    expect(decodeAssignment(JSON.parse(out.get('n2') as string))?.[0]).toMatchObject({
      id: 'old',
      desiredState: 'shutdown',
    });
  });

  it('asked again with the same records it answers the same; a changed service or network shows', () => {
    const records = [task(1, 'n1')];
    const nets = new Map([['net1', network('a')]]);
    const first = assignmentsByNode(records, new Map([['svc1', service()]]), nets);
    const svc = service();
    expect(assignmentsByNode(records, new Map([['svc1', svc]]), nets)).toEqual(first);
    const renamed = assignmentsByNode(records, new Map([['svc1', svc]]), new Map([['net1', network('b')]]));
    expect(decodeAssignment(JSON.parse(renamed.get('n1') as string))?.[0].networks[0].network).toBe('b');
    const withCommand = assignmentsByNode(
      records,
      new Map([['svc1', service({ command: ['node', 'x.js'] })]]),
      nets,
    );
    expect(decodeAssignment(JSON.parse(withCommand.get('n1') as string))?.[0].command).toEqual([
      'node',
      'x.js',
    ]);
  });
});
