/**
 * The two constraint forms scheduler.test.ts does not cover on their own: node.hostname== and
 * node.id!= (swarmkit's equality and inequality on the node's id and hostname).
 */
import { describe, expect, it } from 'vitest';
import { type Node, parseConstraints } from '../../src/index.js';
import { schedule } from '../../src/swarm/scheduler.js';

const node = (id: string): Node => ({
  id,
  hostname: `host-${id}`,
  addr: '127.0.0.1',
  labels: {},
  availability: 'active',
  state: 'ready',
  message: '',
  heartbeatPeriodMs: 5000,
  createdAt: '2026-01-01T00:00:00.000Z',
  stateSince: '2026-01-01T00:00:00.000Z',
});
const tasks = (n: number) => Array.from({ length: n }, (_, i) => `t${i + 1}`);
const placed = (constraint: string, n: number) =>
  schedule(
    [node('a'), node('b'), node('c')],
    [],
    [{ serviceId: 's', constraints: parseConstraints([constraint]), taskIds: tasks(n) }],
  );

describe('scheduler constraint forms', () => {
  it('node.hostname== places only on the node of that hostname', () => {
    expect([...placed('node.hostname==host-c', 3).assigned.values()]).toEqual(['c', 'c', 'c']);
  });

  it('node.id!= keeps tasks off that node', () => {
    expect(new Set(placed('node.id!=a', 4).assigned.values())).toEqual(new Set(['b', 'c']));
  });

  it('node.hostname== naming no node leaves the tasks unscheduled, with the constraint-mismatch message', () => {
    const { assigned, unschedulable } = placed('node.hostname==nowhere', 1);
    expect(assigned.size).toBe(0);
    expect(unschedulable.get('t1')).toBe('no suitable node (3 nodes have a constraint mismatch)');
  });
});
