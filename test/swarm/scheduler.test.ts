import { describe, expect, it } from 'vitest';
import { type Node, parseConstraints } from '../../src/index.js';
import { schedule } from '../../src/swarm/scheduler.js';

function node(id: string, more: Partial<Node> = {}): Node {
  return {
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
    ...more,
  };
}

const tasks = (n: number, prefix = 't') => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);

describe('scheduler', () => {
  it('spreads a service over the nodes with the fewest of its tasks', () => {
    const { assigned } = schedule(
      [node('a'), node('b'), node('c')],
      [],
      [{ serviceId: 's', constraints: [], taskIds: tasks(6) }],
    );
    const perNode = new Map<string, number>();
    for (const n of assigned.values()) perNode.set(n, (perNode.get(n) ?? 0) + 1);
    expect([...perNode.values()]).toEqual([2, 2, 2]);
  });

  it('among nodes with as many tasks of the service, picks the one with fewest tasks in all', () => {
    const placed = [
      { serviceId: 'other', nodeId: 'a' },
      { serviceId: 'other', nodeId: 'a' },
      { serviceId: 'other', nodeId: 'c' },
    ];
    const { assigned } = schedule([node('a'), node('b'), node('c')], placed, [
      { serviceId: 's', constraints: [], taskIds: ['t1'] },
    ]);
    expect(assigned.get('t1')).toBe('b');
  });

  it('node.id== places only on that node', () => {
    const { assigned } = schedule(
      [node('a'), node('b')],
      [],
      [{ serviceId: 's', constraints: parseConstraints(['node.id==b']), taskIds: tasks(3) }],
    );
    expect([...assigned.values()]).toEqual(['b', 'b', 'b']);
  });

  it('node.hostname!= keeps tasks off that host', () => {
    const { assigned } = schedule(
      [node('a'), node('b'), node('c')],
      [],
      [{ serviceId: 's', constraints: parseConstraints(['node.hostname!=host-a']), taskIds: tasks(4) }],
    );
    expect(new Set(assigned.values())).toEqual(new Set(['b', 'c']));
  });

  it('node.labels.K==V matches the label value, case-insensitively', () => {
    const nodes = [node('a', { labels: { zone: 'A' } }), node('b', { labels: { zone: 'b' } }), node('c')];
    const { assigned } = schedule(
      nodes,
      [],
      [{ serviceId: 's', constraints: parseConstraints(['node.labels.zone==a']), taskIds: tasks(2) }],
    );
    expect([...assigned.values()]).toEqual(['a', 'a']);
  });

  it('node.labels.K!=V also holds on a node without the label', () => {
    const nodes = [node('a', { labels: { zone: 'a' } }), node('b')];
    const { assigned } = schedule(
      nodes,
      [],
      [{ serviceId: 's', constraints: parseConstraints(['node.labels.zone!=a']), taskIds: tasks(1) }],
    );
    expect(assigned.get('t1')).toBe('b');
  });

  it('paused, drained and down nodes take no new tasks', () => {
    const nodes = [
      node('a', { availability: 'pause' }),
      node('b', { availability: 'drain' }),
      node('c', { state: 'down' }),
      node('d'),
    ];
    const { assigned } = schedule(nodes, [], [{ serviceId: 's', constraints: [], taskIds: tasks(2) }]);
    expect([...assigned.values()]).toEqual(['d', 'd']);
  });

  it("an unschedulable task gets swarmkit's explanation", () => {
    const nodes = [node('a', { availability: 'drain' }), node('b', { state: 'down' }), node('c')];
    const { assigned, unschedulable } = schedule(
      nodes,
      [],
      [{ serviceId: 's', constraints: parseConstraints(['node.labels.zone==a']), taskIds: ['t1'] }],
    );
    expect(assigned.size).toBe(0);
    expect(unschedulable.get('t1')).toBe(
      'no suitable node (2 nodes not available for new tasks; 1 node has a constraint mismatch)',
    );
  });

  it('a malformed constraint is INVALID_ARGUMENT naming it', () => {
    expect(() => parseConstraints(['node.labels.zone=a'])).toThrow(/node\.labels\.zone=a/);
    expect(() => parseConstraints(['engine.labels.x==1'])).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});

describe('scheduler constraint forms', () => {
  const placed = (constraint: string, n: number) =>
    schedule(
      [node('a'), node('b'), node('c')],
      [],
      [{ serviceId: 's', constraints: parseConstraints([constraint]), taskIds: tasks(n) }],
    );

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
