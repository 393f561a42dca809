import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Entry, Ready } from '../../src/raft/core/index.js';
import {
  decodeRequest,
  encodeRequest,
  type KvCommand,
  type KvRequest,
  type KvResult,
  KvStateMachine,
  LeaderLeaseClock,
} from '../../src/raft/kv/index.js';
import { InvariantChecker } from '../../src/raft/sim/invariants.js';
import { KvInvariantChecker } from '../../src/raft/sim/kv-invariants.js';
import type { AppliedCommand, SimNode } from '../../src/raft/sim/sim-node.js';
import { parametersFor, runSimulation } from '../../src/raft/sim/simulation.js';
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

/** Seeds whose clients also write TTL keys. */
const leaseSeeds = Array.from({ length: 40 }, (_, i) => i + 1).filter(
  (seed) => parametersFor(seed, 3).leases,
);

describe("the simulator on kvkit's KvStateMachine", () => {
  afterEach(() => vi.restoreAllMocks());

  it('catches a state machine that ignores client sessions: a retry applied twice', () => {
    const apply = KvStateMachine.prototype.apply;
    vi.spyOn(KvStateMachine.prototype, 'apply').mockImplementation(function (
      this: KvStateMachine,
      bytes,
      ctx,
    ) {
      return apply.call(this, encodeRequest({ cmd: decodeRequest(bytes).cmd }), ctx);
    });
    const failures = [1, 2, 3, 4, 5, 6].map((seed) => runSimulation({ seed, nodes: 3 }).failure ?? '');
    expect(failures.filter((f) => /at most once|session/.test(f)).length).toBeGreaterThan(0);
  });

  it("revokes every TTL key through the leader's lease clock, under faults", () => {
    const r = runSimulation({ seed: leaseSeeds[0], nodes: 3 });
    expect(r.ok, r.failure).toBe(true);
    expect(r.stats.leasePuts).toBeGreaterThan(5);
    expect(r.stats.leasesRevoked).toBeGreaterThan(0);
    expect(r.stats.keysRevoked).toBeGreaterThan(0);
  });

  it('fails a run whose leases never expire', () => {
    vi.spyOn(LeaderLeaseClock.prototype, 'tick').mockImplementation(() => {});
    const r = runSimulation({ seed: leaseSeeds[0], nodes: 3 });
    expect(r.failure).toMatch(/liveness: leases still alive/);
  });
});

/** A node the KV checker reads: an id and a state machine. */
function kvNode(id: string, sm = new KvStateMachine()): SimNode {
  return { id, sm, appliedIndex: 0 } as unknown as SimNode;
}

const put = (key: string, value: string, ttlMs?: number): KvCommand => ({
  op: 'put',
  key,
  value: enc(value),
  ttlMs,
});

/** Applies `request` to `node`'s machine at `index` and reports it to the checker, as SimNode does. */
function applyTo(checker: KvInvariantChecker, node: SimNode, index: number, request: KvRequest): KvResult {
  const events: AppliedCommand['events'] = [];
  const off = node.sm.onChange((es) => events.push(...es));
  const before = node.sm.list('');
  const result = node.sm.apply(encodeRequest(request), { index, term: 1 });
  off();
  const revoked =
    request.cmd.op === 'leaseRevoke'
      ? before.filter((p) => events.some((e) => e.key === p.key && e.state === null))
      : [];
  checker.onApplied(node, index, { request, result, events, revoked });
  return result;
}

describe('the key-space invariant checker', () => {
  it('flags a value written at two log indexes (a request applied twice)', () => {
    const checker = new KvInvariantChecker(() => 0);
    const a = kvNode('a');
    applyTo(checker, a, 1, { client: 'c', seq: 1, cmd: put('k', 'v1') });
    // The same request again, without its session: the machine applies it a second time.
    expect(() => applyTo(checker, a, 2, { cmd: put('k', 'v1') })).toThrow(/at most once/);
  });

  it('flags a retry answered differently from the first time', () => {
    const checker = new KvInvariantChecker(() => 0);
    const a = kvNode('a');
    applyTo(checker, a, 1, { client: 'c', seq: 1, cmd: { op: 'cas', key: 'k', value: enc('x'), prev: 0 } });
    const b = kvNode('b');
    b.sm.apply(encodeRequest({ cmd: put('other', 'z') }), { index: 1, term: 1 });
    // b's machine has no session for c: it applies the "retry" at index 2 again, at another revision.
    expect(() =>
      applyTo(checker, b, 2, { client: 'c', seq: 1, cmd: { op: 'cas', key: 'k', value: enc('y'), prev: 0 } }),
    ).toThrow(/session/);
  });

  it('flags two nodes whose state differs after the same index', () => {
    const checker = new KvInvariantChecker(() => 0);
    applyTo(checker, kvNode('a'), 1, { cmd: put('k', 'one') });
    expect(() => applyTo(checker, kvNode('b'), 1, { cmd: put('k', 'two') })).toThrow(/state machine safety/);
  });

  it('flags differing snapshot images at one index', () => {
    const checker = new KvInvariantChecker(() => 0);
    checker.onSnapshotTaken(kvNode('a'), 5, enc('image'));
    expect(() => checker.onSnapshotTaken(kvNode('b'), 5, enc('other'))).toThrow(/snapshot image/);
  });

  it('flags a read, invoked after a lease revocation applied, that returns the revoked value', () => {
    let now = 0;
    const checker = new KvInvariantChecker(() => now);
    const a = kvNode('a');
    applyTo(checker, a, 1, { client: 'c', seq: 1, cmd: put('t/x', 'v1', 100) });
    const [{ lease }] = a.sm.leases();
    now = 50;
    applyTo(checker, a, 2, { cmd: { op: 'leaseRevoke', lease } });
    expect(a.sm.get('t/x')).toBeNull();
    checker.onRead('t/x', 'v1', 40); // invoked before the revocation: may see it
    expect(() => checker.onRead('t/x', 'v1', 60)).toThrow(/revoked/);
  });
});
