import { describe, expect, it } from 'vitest';
import type { Entry, Ready } from '../../src/raft/core/index.js';
import { InvariantChecker } from '../../src/raft/sim/invariants.js';
import { KvStateMachine } from '../../src/raft/sim/kv-state-machine.js';
import type { SimNode } from '../../src/raft/sim/sim-node.js';
import { runSimulation } from '../../src/raft/sim/simulation.js';
import { checkLinearizability } from '../../src/testing/index.js';
import { enc } from './harness.js';

describe('the simulator', () => {
  it('is deterministic: a seed replays the same run exactly', () => {
    const a = runSimulation({ seed: 42, nodes: 5, keepTrace: true, keepHistory: true });
    const b = runSimulation({ seed: 42, nodes: 5, keepTrace: true, keepHistory: true });
    expect(a.ok).toBe(true);
    expect(b.stats).toEqual(a.stats);
    expect(b.trace).toEqual(a.trace);
    expect(b.history).toEqual(a.history);
    expect(runSimulation({ seed: 43, nodes: 5, keepTrace: true }).trace).not.toEqual(a.trace);
  });

  it('records a client history that the linearizability checker can refute when tampered with', () => {
    const r = runSimulation({ seed: 7, nodes: 3, keepHistory: true });
    const history = r.history ?? [];
    expect(history.length).toBeGreaterThan(50);
    expect(checkLinearizability(history).ok).toBe(true);
    // A read of a value nobody ever wrote cannot be linearized.
    const read = history.find((op) => op.f === 'get' && op.ret !== null);
    expect(read).toBeDefined();
    const tampered = history.map((op) => (op === read ? { ...op, output: 'never-written' } : op));
    expect(checkLinearizability(tampered).ok).toBe(false);
  });

  it('reports a history verdict failure with the command that replays the seed', () => {
    const r = runSimulation({ seed: 3, nodes: 3, checkHistory: () => ({ ok: false, counterexample: [] }) });
    expect(r.ok).toBe(false);
    expect(r.failure).toBe('history is not linearizable');
    expect(r.replay).toBe('npm run sim -- --seed 3 --nodes 3');
    expect(r.trace?.length).toBeGreaterThan(0);
  });
});

/** The parts of SimNode the invariant checker reads. */
function fakeNode(
  id: string,
  status: { role: string; term: number; commit: number },
  log: Entry[] = [],
): SimNode {
  return {
    id,
    incarnation: 1,
    appliedIndex: 0,
    storage: { term: (i: number) => (i === 0 ? 0 : (log[i - 1]?.term ?? 0)) },
    core: {
      status: () => status,
      firstIndex: () => 1,
      logEntries: (lo: number, hi: number) => log.slice(lo - 1, hi - 1),
      logTerm: (i: number) => (i === 0 ? 0 : (log[i - 1]?.term ?? null)),
    },
  } as unknown as SimNode;
}

const e = (index: number, term: number, text: string): Entry => ({
  index,
  term,
  type: 'normal',
  data: enc(text),
});
const readyWith = (entries: Entry[]): Ready => ({ entries }) as Ready;

describe('the invariant checker', () => {
  it('flags two leaders in one term (election safety)', () => {
    const checker = new InvariantChecker();
    const nodes = [
      fakeNode('a', { role: 'leader', term: 5, commit: 0 }),
      fakeNode('b', { role: 'leader', term: 5, commit: 0 }),
    ];
    expect(() => checker.afterEvent(nodes)).toThrow(/election safety/);
  });

  it('flags two different entries persisted at the same index and term (log matching)', () => {
    const checker = new InvariantChecker();
    checker.onPersisted(fakeNode('a', { role: 'follower', term: 2, commit: 0 }), readyWith([e(1, 2, 'x')]));
    expect(() =>
      checker.onPersisted(fakeNode('b', { role: 'follower', term: 2, commit: 0 }), readyWith([e(1, 2, 'y')])),
    ).toThrow(/log matching/);
  });

  it('flags two nodes applying different entries at one index (state machine safety)', () => {
    const checker = new InvariantChecker();
    checker.onApply(fakeNode('a', { role: 'follower', term: 2, commit: 1 }), e(1, 2, 'x'));
    expect(() =>
      checker.onApply(fakeNode('b', { role: 'follower', term: 3, commit: 1 }), e(1, 3, 'z')),
    ).toThrow(/state machine safety/);
  });

  it('flags a new leader that lacks a committed entry (leader completeness)', () => {
    const checker = new InvariantChecker();
    checker.afterEvent([
      fakeNode('a', { role: 'follower', term: 2, commit: 2 }, [e(1, 1, 'p'), e(2, 2, 'q')]),
    ]);
    expect(() =>
      checker.afterEvent([
        fakeNode('b', { role: 'leader', term: 3, commit: 1 }, [e(1, 1, 'p'), e(2, 3, 'r')]),
      ]),
    ).toThrow(/leader completeness/);
  });

  it('flags a commit index that moves back', () => {
    const checker = new InvariantChecker();
    const log = [e(1, 1, 'p'), e(2, 1, 'q')];
    checker.afterEvent([fakeNode('a', { role: 'follower', term: 1, commit: 2 }, log)]);
    expect(() => checker.afterEvent([fakeNode('a', { role: 'follower', term: 1, commit: 1 }, log)])).toThrow(
      /moved back/,
    );
  });
});

describe('the KV state machine', () => {
  const cmd = (clientId: number, seq: number, op: object) => enc(JSON.stringify({ clientId, seq, op }));

  it('applies a retried command once and answers the retry with the first result', () => {
    const sm = new KvStateMachine();
    expect(sm.apply(cmd(1, 1, { f: 'cas', key: 'k', expected: null, next: 'v1' }))).toEqual({
      kind: 'applied',
      result: true,
    });
    expect(sm.apply(cmd(1, 1, { f: 'cas', key: 'k', expected: null, next: 'v1' }))).toEqual({
      kind: 'duplicate',
      result: true,
    });
    expect(sm.apply(cmd(2, 1, { f: 'put', key: 'k', value: 'v2' }))).toEqual({
      kind: 'applied',
      result: null,
    });
    // An older command of client 2 that arrives late has no effect.
    expect(sm.apply(cmd(2, 0, { f: 'put', key: 'k', value: 'old' }))).toEqual({ kind: 'stale' });
    expect(sm.get('k')).toBe('v2');
  });

  it('round-trips its state, sessions included, through a snapshot', () => {
    const sm = new KvStateMachine();
    sm.apply(cmd(1, 1, { f: 'put', key: 'a', value: '1' }));
    const copy = new KvStateMachine();
    copy.restore(sm.snapshot());
    expect(copy.get('a')).toBe('1');
    expect(copy.apply(cmd(1, 1, { f: 'put', key: 'a', value: '1' })).kind).toBe('duplicate');
  });
});
