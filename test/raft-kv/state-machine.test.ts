import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeRequest, type KvCommand, type KvRequest, KvStateMachine } from '../../src/raft/kv/index.js';

const bytes = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array | undefined) => (b ? new TextDecoder().decode(b) : null);

/** Applies commands at consecutive log indexes, as a node would. */
function machine() {
  const sm = new KvStateMachine({ historyLimit: 100 });
  let index = 0;
  const run = (cmd: KvCommand, session?: { client: string; seq: number }) =>
    sm.apply(encodeRequest({ ...session, cmd } as KvRequest), { index: ++index, term: 1 });
  return { sm, run };
}

describe('KvStateMachine', () => {
  it('gives every change a new revision that becomes the key lastIndex', () => {
    const { sm, run } = machine();
    expect(run({ op: 'put', key: 'a', value: bytes('1') })).toEqual({ ok: true, revision: 1 });
    run({ op: 'put', key: 'b', value: bytes('2') });
    run({ op: 'put', key: 'a', value: bytes('3') });
    expect(sm.get('a')?.lastIndex).toBe(3);
    expect(sm.get('b')?.lastIndex).toBe(2);
    expect(sm.revision).toBe(3);
  });

  it('lists the keys of a directory in order', () => {
    const { sm, run } = machine();
    for (const k of ['d/b', 'd/a', 'e/x', 'd/c/d', 'dd/x']) run({ op: 'put', key: k, value: bytes(k) });
    expect(sm.list('d/').map((p) => p.key)).toEqual(['d/a', 'd/b', 'd/c/d']);
    expect(sm.list('').length).toBe(5);
  });

  it('creates with cas prev 0 and swaps only on the current revision', () => {
    const { sm, run } = machine();
    expect(run({ op: 'cas', key: 'k', value: bytes('1'), prev: 0 })).toEqual({ ok: true, revision: 1 });
    expect(run({ op: 'cas', key: 'k', value: bytes('x'), prev: 0 })).toMatchObject({
      ok: false,
      code: 'KEY_EXISTS',
    });
    expect(run({ op: 'cas', key: 'k', value: bytes('x'), prev: 7 })).toMatchObject({
      ok: false,
      code: 'KEY_MODIFIED',
    });
    expect(run({ op: 'cas', key: 'k', value: bytes('2'), prev: 1 })).toEqual({ ok: true, revision: 2 });
    expect(str(sm.get('k')?.value)).toBe('2');
  });

  it('deletes by compare-and-delete only on the current revision, KEY_NOT_FOUND when absent', () => {
    const { sm, run } = machine();
    run({ op: 'put', key: 'k', value: bytes('1') });
    expect(run({ op: 'cad', key: 'k', prev: 9 })).toMatchObject({ ok: false, code: 'KEY_MODIFIED' });
    expect(run({ op: 'cad', key: 'k', prev: 1 })).toMatchObject({ ok: true });
    expect(run({ op: 'cad', key: 'k', prev: 1 })).toMatchObject({ ok: false, code: 'KEY_NOT_FOUND' });
    expect(sm.get('k')).toBeNull();
  });

  it('deletes a whole tree at one revision', () => {
    const { sm, run } = machine();
    for (const k of ['t/a', 't/b', 'tt']) run({ op: 'put', key: k, value: bytes(k) });
    const events: number[] = [];
    sm.onChange((es) => events.push(...es.map((e) => e.revision)));
    expect(run({ op: 'delTree', dir: 't/' })).toEqual({ ok: true, revision: 4 });
    expect(events).toEqual([4, 4]);
    expect(sm.list('').map((p) => p.key)).toEqual(['tt']);
  });

  it('binds a TTL write to a lease whose revocation deletes the key', () => {
    const { sm, run } = machine();
    const leaseEvents: (number | null)[] = [];
    sm.onLease((es) => leaseEvents.push(...es.map((e) => e.ttlMs)));
    run({ op: 'put', key: 'tmp', value: bytes('v'), ttlMs: 500 });
    const [{ lease }] = sm.leases();
    expect(leaseEvents).toEqual([500]);
    run({ op: 'leaseRevoke', lease });
    expect(sm.get('tmp')).toBeNull();
    expect(sm.leases()).toEqual([]);
    expect(leaseEvents).toEqual([500, null]);
  });

  it('drops the old lease when a TTL key is rewritten, so the clock restarts', () => {
    const { sm, run } = machine();
    run({ op: 'put', key: 'tmp', value: bytes('1'), ttlMs: 500 });
    const [first] = sm.leases();
    run({ op: 'put', key: 'tmp', value: bytes('2'), ttlMs: 500 });
    const leases = sm.leases();
    expect(leases.length).toBe(1);
    expect(leases[0].lease).not.toBe(first.lease);
    expect(run({ op: 'leaseRevoke', lease: first.lease })).toMatchObject({
      ok: false,
      code: 'LEASE_NOT_FOUND',
    });
    expect(str(sm.get('tmp')?.value)).toBe('2');
    run({ op: 'put', key: 'tmp', value: bytes('3') });
    expect(sm.leases()).toEqual([]);
  });

  it('hands a lock to waiters in the order they queued, and the key holds the holder value', () => {
    const { sm, run } = machine();
    const lease = (run({ op: 'leaseGrant', ttlMs: 1000 }) as { lease: number }).lease;
    const take = (owner: string) => run({ op: 'lockAcquire', key: 'L', value: bytes(owner), lease, owner });
    expect(take('a')).toMatchObject({ acquired: true });
    expect(take('b')).toMatchObject({ acquired: false });
    expect(take('c')).toMatchObject({ acquired: false });
    expect(sm.lockHolder('L')).toBe('a');
    expect(str(sm.get('L')?.value)).toBe('a');
    run({ op: 'lockRelease', key: 'L', owner: 'b' });
    run({ op: 'lockRelease', key: 'L', owner: 'a' });
    expect(sm.lockHolder('L')).toBe('c');
    expect(str(sm.get('L')?.value)).toBe('c');
    run({ op: 'lockRelease', key: 'L', owner: 'c' });
    expect(sm.lockHolder('L')).toBeNull();
    expect(sm.get('L')).toBeNull();
  });

  it('passes a lock on when the holder lease is revoked', () => {
    const { sm, run } = machine();
    const l1 = (run({ op: 'leaseGrant', ttlMs: 1000 }) as { lease: number }).lease;
    const l2 = (run({ op: 'leaseGrant', ttlMs: 1000 }) as { lease: number }).lease;
    run({ op: 'lockAcquire', key: 'L', value: bytes('one'), lease: l1, owner: 'one' });
    run({ op: 'lockAcquire', key: 'L', value: bytes('two'), lease: l2, owner: 'two' });
    run({ op: 'leaseRevoke', lease: l1 });
    expect(sm.lockHolder('L')).toBe('two');
    expect(run({ op: 'lockAcquire', key: 'L', value: bytes('x'), lease: l1, owner: 'x' })).toMatchObject({
      ok: false,
      code: 'LEASE_NOT_FOUND',
    });
  });

  it('applies a retried request of a client session once and answers it as the first time', () => {
    const { sm, run } = machine();
    const session = { client: 'c1', seq: 1 };
    const first = run({ op: 'cas', key: 'k', value: bytes('1'), prev: 0 }, session);
    const retry = run({ op: 'cas', key: 'k', value: bytes('1'), prev: 0 }, session);
    expect(retry).toEqual(first);
    expect(first).toMatchObject({ ok: true });
    expect(sm.revision).toBe(1);
    expect(run({ op: 'put', key: 'k', value: bytes('2') }, { client: 'c1', seq: 2 })).toMatchObject({
      revision: 2,
    });
  });

  it('never applies a retry twice, even after its reply left the session window', () => {
    const sm = new KvStateMachine({ repliesPerSession: 2 });
    let index = 0;
    const run = (seq: number, cmd: KvCommand) =>
      sm.apply(encodeRequest({ client: 'c', seq, cmd }), { index: ++index, term: 1 });
    expect(run(1, { op: 'put', key: 'k', value: bytes('1') })).toEqual({ ok: true, revision: 1 });
    // Pipelined requests of the same session apply out of order; seq 1 and 3 leave the window.
    run(3, { op: 'put', key: 'x', value: bytes('3') });
    run(2, { op: 'put', key: 'y', value: bytes('2') });
    run(4, { op: 'put', key: 'z', value: bytes('4') });
    // A late retry of seq 1 (its first attempt timed out) must not write again.
    expect(run(1, { op: 'put', key: 'k', value: bytes('1') })).toEqual({
      ok: false,
      code: 'ALREADY_APPLIED',
      revision: 4,
    });
    expect(run(3, { op: 'put', key: 'x', value: bytes('3') })).toMatchObject({ code: 'ALREADY_APPLIED' });
    expect(sm.revision).toBe(4);
    expect(sm.get('k')?.lastIndex).toBe(1);
    // Still in the window: answered as the first time.
    expect(run(4, { op: 'put', key: 'z', value: bytes('4') })).toEqual({ ok: true, revision: 4 });
    // A request never applied before (seq 5 skipped a number: seq 6) is applied.
    expect(run(6, { op: 'put', key: 'k', value: bytes('6') })).toEqual({ ok: true, revision: 5 });
  });

  it('applies a forgotten retry again when applying it twice is harmless (a lease keep-alive)', () => {
    const sm = new KvStateMachine({ repliesPerSession: 1 });
    let index = 0;
    const run = (seq: number, cmd: KvCommand) =>
      sm.apply(encodeRequest({ client: 'c', seq, cmd }), { index: ++index, term: 1 });
    const lease = (run(1, { op: 'leaseGrant', ttlMs: 1000 }) as { lease: number }).lease;
    run(2, { op: 'leaseKeepAlive', lease });
    run(3, { op: 'put', key: 'k', value: bytes('3') });
    const refreshed: (number | null)[] = [];
    sm.onLease((events) => refreshed.push(...events.map((e) => e.ttlMs)));
    // A lock's keep-alive told "already applied" would give the lock up; it is refreshed again.
    expect(run(2, { op: 'leaseKeepAlive', lease })).toEqual({ ok: true, revision: 1, lease });
    expect(refreshed).toEqual([1000]);
    // A grant is not: a second one would be a second lease.
    expect(run(1, { op: 'leaseGrant', ttlMs: 1000 })).toMatchObject({ code: 'ALREADY_APPLIED' });
    expect(sm.leases().length).toBe(1);
  });

  it('applies each sequence number at most once whatever the order, window and gaps', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4 }),
        fc.uniqueArray(fc.integer({ min: 1, max: 40 }), { maxLength: 30 }),
        (window, order) => {
          const sm = new KvStateMachine({ repliesPerSession: window });
          let index = 0;
          const put = (seq: number) =>
            sm.apply(
              encodeRequest({ client: 'c', seq, cmd: { op: 'put', key: `k${seq}`, value: bytes('v') } }),
              {
                index: ++index,
                term: 1,
              },
            );
          for (const seq of order) put(seq);
          const applied = new Set(order);
          for (let seq = 1; seq <= 40; seq++) {
            const before = sm.revision;
            put(seq);
            // An applied request never applies again; one never applied before applies now.
            expect(sm.revision).toBe(applied.has(seq) ? before : before + 1);
            applied.add(seq);
          }
        },
      ),
      { seed: 7, numRuns: 300 },
    );
  });

  it('keeps applied ranges merged as a pipelined session fills its gaps, so old retries stay refused', () => {
    const sm = new KvStateMachine({ repliesPerSession: 0 });
    let index = 0;
    const put = (seq: number) =>
      sm.apply(encodeRequest({ client: 'c', seq, cmd: { op: 'put', key: 'k', value: bytes(String(seq)) } }), {
        index: ++index,
        term: 1,
      });
    // 2, 1, 4, 3, ...: every other request opens a gap the next one fills (far more than 32 times).
    for (let seq = 1; seq <= 200; seq += 2) {
      put(seq + 1);
      put(seq);
    }
    expect(sm.revision).toBe(200);
    expect(put(1)).toMatchObject({ code: 'ALREADY_APPLIED' });
    expect(sm.revision).toBe(200);
  });

  it('remembers which forgotten replies were applied across a snapshot', () => {
    const a = new KvStateMachine({ repliesPerSession: 1 });
    const put = (seq: number, v: string) =>
      encodeRequest({ client: 'c', seq, cmd: { op: 'put', key: 'k', value: bytes(v) } });
    a.apply(put(1, '1'), { index: 1, term: 1 });
    a.apply(put(2, '2'), { index: 2, term: 1 });
    const b = new KvStateMachine({ repliesPerSession: 1 });
    b.restore(a.snapshot(), { index: 2, term: 1 });
    expect(b.apply(put(1, '1'), { index: 3, term: 1 })).toMatchObject({ code: 'ALREADY_APPLIED' });
    expect(str(b.get('k')?.value)).toBe('2');
  });

  it('resumes watch history after a revision, and reports compacted history as null', () => {
    const { sm, run } = machine();
    for (let i = 0; i < 10; i++) run({ op: 'put', key: `k${i}`, value: bytes(String(i)) });
    expect(sm.eventsAfter(7)?.map((e) => e.key)).toEqual(['k7', 'k8', 'k9']);
    expect(sm.eventsAfter(10)).toEqual([]);
    run({ op: 'compact', revision: 5 });
    expect(sm.eventsAfter(3)).toBeNull();
    expect(sm.eventsAfter(5)?.length).toBe(5);
  });

  it('gives replicas at one log position the same snapshot image, whether restored or not', () => {
    // Index 2 is an entry the machine never sees (a new leader's no-op, a configuration change);
    // the runtime snapshots at its applied index 2 and ships the image to a lagging follower.
    const live = machine();
    live.run({ op: 'put', key: 'k', value: bytes('1') });
    const restored = new KvStateMachine({ historyLimit: 100 });
    restored.restore(live.sm.snapshot(), { index: 2, term: 1 });
    expect(restored.snapshot()).toEqual(live.sm.snapshot());
    // Both then apply index 3 alike.
    const next = encodeRequest({ cmd: { op: 'put', key: 'k', value: bytes('3') } });
    live.sm.apply(next, { index: 3, term: 1 });
    restored.apply(next, { index: 3, term: 1 });
    expect(restored.snapshot()).toEqual(live.sm.snapshot());
  });

  it('restores from a snapshot to an identical machine that behaves the same', () => {
    const a = machine();
    const lease = (a.run({ op: 'leaseGrant', ttlMs: 900 }) as { lease: number }).lease;
    a.run({ op: 'put', key: 'x/1', value: bytes('1') });
    a.run({ op: 'put', key: 'x/2', value: bytes('2'), ttlMs: 300 });
    a.run({ op: 'lockAcquire', key: 'L', value: bytes('me'), lease, owner: 'me' });
    a.run({ op: 'cas', key: 'x/1', value: bytes('3'), prev: 2 }, { client: 'c', seq: 1 });
    const b = new KvStateMachine();
    b.restore(a.sm.snapshot(), { index: 5, term: 1 });
    expect(b.snapshot()).toEqual(a.sm.snapshot());
    expect(b.list('x/')).toEqual(a.sm.list('x/'));
    expect(b.lockHolder('L')).toBe('me');
    const retry = encodeRequest({
      client: 'c',
      seq: 1,
      cmd: { op: 'cas', key: 'x/1', value: bytes('3'), prev: 2 },
    });
    expect(b.apply(retry, { index: 6, term: 1 })).toEqual(a.sm.apply(retry, { index: 6, term: 1 }));
    expect(b.revision).toBe(a.sm.revision);
  });
});
