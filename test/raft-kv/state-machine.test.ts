import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { kvPackr } from '../../src/raft/kv/commands.js';
import { encodeRequest, type KvCommand, type KvRequest, KvStateMachine } from '../../src/raft/kv/index.js';
import { joinFrames } from '../../src/raft/snapshot-frames.js';

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

describe('KvStateMachine refuses entries that are not commands', () => {
  it('answers INVALID_ARGUMENT for undecodable bytes, an unknown op or a field of the wrong type, changing nothing', () => {
    const { sm, run } = machine();
    run({ op: 'put', key: 'k', value: bytes('1') });
    const before = sm.snapshot();
    const garbage = [
      new Uint8Array([0xc1]), // a byte msgpack never uses
      new Uint8Array([0xff, 0x00, 0x13, 0x37]),
      new Uint8Array(0),
      encodeRequest({ cmd: { op: 'drop-database' } } as never),
      encodeRequest({ cmd: { op: 'put', key: 42, value: bytes('x') } } as never),
      encodeRequest({ cmd: { op: 'put', key: 'k', value: 'not bytes' } } as never),
      encodeRequest({ cmd: { op: 'put', key: 'k', value: bytes('x'), ttlMs: -5 } } as never),
      encodeRequest({ cmd: { op: 'cas', key: 'k', value: bytes('x'), prev: 1.5 } } as never),
      encodeRequest({ client: 'c', cmd: { op: 'del', key: 'k' } } as never),
      encodeRequest({ client: 'c', seq: 0, cmd: { op: 'del', key: 'k' } } as never),
      encodeRequest('just a string' as never),
      encodeRequest([1, 2, 3] as never),
    ];
    for (const [i, data] of garbage.entries()) {
      expect(sm.apply(data, { index: 100 + i, term: 1 }), `garbage #${i}`).toEqual({
        ok: false,
        code: 'INVALID_ARGUMENT',
        revision: 1,
      });
    }
    expect(sm.snapshot()).toEqual(before);
    expect(sm.refusedCommands).toBe(garbage.length);
  });

  it('never throws on random bytes, and two replicas fed the same bytes stay identical', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.uint8Array({ maxLength: 40 }),
            fc
              .record({
                client: fc.option(fc.string({ maxLength: 3 }), { nil: undefined }),
                seq: fc.option(fc.oneof(fc.integer(), fc.double(), fc.string()), { nil: undefined }),
                cmd: fc.record({
                  op: fc.constantFrom(
                    'put',
                    'cas',
                    'del',
                    'cad',
                    'delTree',
                    'leaseGrant',
                    'lockAcquire',
                    'x',
                  ),
                  key: fc.oneof(fc.string({ maxLength: 4 }), fc.integer(), fc.constant(null)),
                  value: fc.oneof(fc.uint8Array({ maxLength: 4 }), fc.string()),
                  prev: fc.oneof(fc.nat(5), fc.double(), fc.constant(-1)),
                  ttlMs: fc.option(fc.integer({ min: -2, max: 100 }), { nil: undefined }),
                  lease: fc.oneof(fc.nat(20), fc.string()),
                  owner: fc.oneof(fc.string({ maxLength: 2 }), fc.constant(7)),
                  dir: fc.oneof(fc.string({ maxLength: 2 }), fc.constant({})),
                }),
              })
              .map((r) => encodeRequest(r as never)),
          ),
          { maxLength: 40 },
        ),
        (entries) => {
          const a = new KvStateMachine();
          const b = new KvStateMachine();
          entries.forEach((data, i) => {
            const ra = a.apply(data, { index: i + 1, term: 1 });
            const rb = b.apply(data, { index: i + 1, term: 1 });
            expect(ra).toEqual(rb);
          });
          expect(a.snapshot()).toEqual(b.snapshot());
        },
      ),
      { seed: 12, numRuns: 300 },
    );
  });
});

describe('KvStateMachine values', () => {
  it('keeps its own copy of a value, not a view of the command it arrived in', () => {
    const { sm } = machine();
    const command = encodeRequest({ cmd: { op: 'put', key: 'k', value: bytes('original') } });
    sm.apply(command, { index: 1, term: 1 });
    const stored = sm.get('k')?.value as Uint8Array;
    expect(stored.buffer).not.toBe(command.buffer);
    command.fill(0x21); // the frame buffer is reused or freed by its owner
    expect(str(sm.get('k')?.value)).toBe('original');
  });

  it('hands a watcher the stored copy too', () => {
    const { sm } = machine();
    const seen: Uint8Array[] = [];
    sm.onChange((events) => seen.push(...events.map((e) => e.state?.value as Uint8Array)));
    const command = encodeRequest({ cmd: { op: 'put', key: 'k', value: bytes('v1') } });
    sm.apply(command, { index: 1, term: 1 });
    command.fill(0);
    expect(str(seen[0])).toBe('v1');
  });
});

describe('KvStateMachine client sessions', () => {
  const MINUTE = 60_000;

  function clocked(options = {}) {
    const sm = new KvStateMachine({ sessionIdleMs: 10 * MINUTE, ...options });
    let index = 0;
    const at = () => ({ index: ++index, term: 1 });
    return {
      sm,
      request: (client: string, seq: number, cmd: KvCommand) =>
        sm.apply(encodeRequest({ client, seq, cmd }), at()),
      clock: (nowMs: number) => sm.apply(encodeRequest({ cmd: { op: 'clock', nowMs } }), at()),
    };
  }

  it('keeps the retry memory of more than 10,000 clients', () => {
    const { sm, request } = clocked();
    for (let c = 0; c < 12_000; c++) request(`c${c}`, 1, { op: 'put', key: `k${c}`, value: bytes('1') });
    expect(sm.sessionCount).toBe(12_000);
    // The very first client's retry is still answered from its session, not applied again.
    const revision = sm.revision;
    expect(request('c0', 1, { op: 'put', key: 'k0', value: bytes('1') })).toEqual({ ok: true, revision: 1 });
    expect(sm.revision).toBe(revision);
  });

  it('expires a session idle for longer than the idle time on the replicated clock', () => {
    const { sm, request, clock } = clocked();
    clock(1_000_000);
    request('idle', 1, { op: 'put', key: 'a', value: bytes('1') });
    request('busy', 1, { op: 'put', key: 'b', value: bytes('1') });
    clock(1_000_000 + 9 * MINUTE);
    request('busy', 2, { op: 'put', key: 'b', value: bytes('2') });
    expect(sm.hasSession('idle')).toBe(true);
    clock(1_000_000 + 10 * MINUTE + 1);
    expect(sm.hasSession('idle')).toBe(false);
    expect(sm.hasSession('busy')).toBe(true);
    clock(1_000_000 + 19 * MINUTE + 1);
    expect(sm.hasSession('busy')).toBe(false);
  });

  it('counts sessions used before the first clock command as seen when the clock starts', () => {
    const { sm, request, clock } = clocked();
    request('early', 1, { op: 'put', key: 'a', value: bytes('1') });
    clock(1_000_000_000);
    expect(sm.hasSession('early')).toBe(true);
    clock(1_000_000_000 + 11 * MINUTE);
    expect(sm.hasSession('early')).toBe(false);
  });

  it('never moves its clock back (a new leader whose clock is behind)', () => {
    const { sm, clock } = clocked();
    clock(5_000_000);
    clock(4_000_000);
    expect(sm.clockMs).toBe(5_000_000);
  });

  it('expires sessions at the same log index on every replica, restored from a snapshot or not', () => {
    const a = clocked();
    a.clock(1_000_000);
    a.request('x', 1, { op: 'put', key: 'k', value: bytes('1') });
    a.clock(1_000_000 + 5 * MINUTE);
    a.request('y', 1, { op: 'put', key: 'k', value: bytes('2') });
    const b = new KvStateMachine({ sessionIdleMs: 10 * MINUTE });
    b.restore(a.sm.snapshot(), { index: 4, term: 1 });
    const tick = encodeRequest({ cmd: { op: 'clock', nowMs: 1_000_000 + 11 * MINUTE } });
    a.sm.apply(tick, { index: 5, term: 1 });
    b.apply(tick, { index: 5, term: 1 });
    expect([a.sm.hasSession('x'), a.sm.hasSession('y')]).toEqual([false, true]);
    expect([b.hasSession('x'), b.hasSession('y')]).toEqual([false, true]);
    expect(b.snapshot()).toEqual(a.sm.snapshot());
  });

  it('drops the longest idle session first past the session limit', () => {
    const { sm, request } = clocked({ sessionLimit: 3 });
    for (const c of ['a', 'b', 'c']) request(c, 1, { op: 'put', key: c, value: bytes('1') });
    request('a', 2, { op: 'put', key: 'a', value: bytes('2') });
    request('d', 1, { op: 'put', key: 'd', value: bytes('1') });
    expect(['a', 'b', 'c', 'd'].map((c) => sm.hasSession(c))).toEqual([true, false, true, true]);
  });

  it('keeps the least recently used order while one client writes on and on, and after it is dropped', () => {
    const { sm, request, clock } = clocked({ sessionLimit: 2 });
    clock(1_000_000);
    request('a', 1, { op: 'put', key: 'a', value: bytes('1') });
    for (let seq = 1; seq <= 3; seq++) request('b', seq, { op: 'put', key: 'b', value: bytes(`${seq}`) });
    request('c', 1, { op: 'put', key: 'c', value: bytes('1') }); // drops a, the longest idle
    request('b', 4, { op: 'put', key: 'b', value: bytes('4') });
    request('d', 1, { op: 'put', key: 'd', value: bytes('1') }); // drops c, not b
    expect(['a', 'b', 'c', 'd'].map((c) => sm.hasSession(c))).toEqual([false, true, false, true]);
    // d, the last one used, expires with b; a new d is last again and b's return moves b.
    clock(1_000_000 + 11 * MINUTE);
    expect(sm.sessionCount).toBe(0);
    request('d', 1, { op: 'put', key: 'd', value: bytes('2') });
    request('b', 1, { op: 'put', key: 'b', value: bytes('5') });
    request('d', 2, { op: 'put', key: 'd', value: bytes('3') });
    request('e', 1, { op: 'put', key: 'e', value: bytes('1') }); // drops b
    expect(['b', 'd', 'e'].map((c) => sm.hasSession(c))).toEqual([false, true, true]);
  });

  it('keeps the least recently used order of a restored snapshot', () => {
    const source = clocked({ sessionLimit: 2 });
    source.request('x', 1, { op: 'put', key: 'x', value: bytes('1') });
    source.request('y', 1, { op: 'put', key: 'y', value: bytes('1') });
    const image = source.sm.snapshot(); // x, then y
    const { sm, request } = clocked({ sessionLimit: 2 });
    request('y', 1, { op: 'put', key: 'y', value: bytes('1') });
    request('x', 1, { op: 'put', key: 'x', value: bytes('1') }); // x last here
    sm.restore(image, { index: 2, term: 1 });
    request('x', 2, { op: 'put', key: 'x', value: bytes('2') }); // now x moves after y
    request('z', 1, { op: 'put', key: 'z', value: bytes('1') }); // drops y
    expect(['x', 'y', 'z'].map((c) => sm.hasSession(c))).toEqual([true, false, true]);
  });
});

describe('KvStateMachine snapshots in frames', () => {
  /** A random command over a few keys, leases, locks and sessions. */
  const command = fc.oneof(
    fc.record({
      op: fc.constant('put' as const),
      key: fc.constantFrom('a', 'b', 'c', 'd/x', 'd/y', 'e'),
      v: fc.nat(9),
    }),
    fc.record({ op: fc.constant('ttl' as const), key: fc.constantFrom('a', 't1', 't2'), v: fc.nat(9) }),
    fc.record({ op: fc.constant('del' as const), key: fc.constantFrom('a', 'b', 't1', 'e') }),
    fc.record({ op: fc.constant('delTree' as const), key: fc.constant('d/') }),
    fc.record({ op: fc.constant('revoke' as const), v: fc.nat(40) }),
    fc.record({ op: fc.constant('lock' as const), key: fc.constantFrom('L1', 'L2'), v: fc.nat(3) }),
    fc.record({ op: fc.constant('unlock' as const), key: fc.constantFrom('L1', 'L2'), v: fc.nat(3) }),
    fc.record({ op: fc.constant('session' as const), key: fc.constantFrom('s1', 's2', 's3'), v: fc.nat(5) }),
    fc.record({ op: fc.constant('clock' as const), v: fc.nat(30) }),
  );
  type Step = { op: string; key?: string; v?: number };

  function toRequest(step: Step, index: number): KvRequest {
    const value = bytes(`${step.op}${step.v ?? ''}@${index}`);
    switch (step.op) {
      case 'put':
        return { cmd: { op: 'put', key: step.key as string, value } };
      case 'ttl':
        return { cmd: { op: 'put', key: step.key as string, value, ttlMs: 1000 + (step.v as number) } };
      case 'del':
        return { cmd: { op: 'del', key: step.key as string } };
      case 'delTree':
        return { cmd: { op: 'delTree', dir: step.key as string } };
      case 'revoke':
        return { cmd: { op: 'leaseRevoke', lease: step.v as number } };
      case 'lock':
        return { cmd: { op: 'lockAcquire', key: step.key as string, value, lease: 1, owner: `o${step.v}` } };
      case 'unlock':
        return { cmd: { op: 'lockRelease', key: step.key as string, owner: `o${step.v}` } };
      case 'session':
        return { client: step.key, seq: (step.v as number) + 1, cmd: { op: 'put', key: 'sess', value } };
      default:
        return { cmd: { op: 'clock', nowMs: (step.v as number) * 60_000 } };
    }
  }

  it('describes the moment it began, however the machine changes while it is read', () => {
    fc.assert(
      fc.property(
        fc.array(command, { maxLength: 40 }),
        fc.array(command, { maxLength: 60 }),
        (prefix, during) => {
          const options = { snapshotFrameItems: 1, repliesPerSession: 2, sessionIdleMs: 600_000 };
          const live = new KvStateMachine(options);
          const twin = new KvStateMachine(options);
          let index = 0;
          const apply = (sm: KvStateMachine, step: Step, at: number) =>
            sm.applyRequest(toRequest(step, at), { index: at, term: 1 });
          index++; // lease 1 for the locks
          live.applyRequest({ cmd: { op: 'leaseGrant', ttlMs: 5000 } }, { index, term: 1 });
          twin.applyRequest({ cmd: { op: 'leaseGrant', ttlMs: 5000 } }, { index, term: 1 });
          for (const step of prefix) {
            index++;
            apply(live, step, index);
            apply(twin, step, index);
          }
          const expected = twin.snapshot();
          // Pull the frames one by one, changing the live machine between every two.
          const frames: Uint8Array[] = [];
          const reader = live.snapshotFrames();
          let k = 0;
          for (let next = reader.next(); !next.done; next = reader.next()) {
            frames.push(next.value);
            if (k < during.length) apply(live, during[k++], ++index);
          }
          const restored = new KvStateMachine(options);
          restored.restore(joinFrames(frames), { index, term: 1 });
          expect(restored.snapshot()).toEqual(expected);
        },
      ),
      { seed: 3, numRuns: 400 },
    );
  });

  it('produces a million-key image in frames of bounded size', () => {
    const sm = new KvStateMachine();
    const value = new Uint8Array(100);
    for (let i = 0; i < 20_000; i++)
      sm.applyRequest({ cmd: { op: 'put', key: `k/${i}`, value } }, { index: i + 1, term: 1 });
    let frames = 0;
    let largest = 0;
    for (const frame of sm.snapshotFrames()) {
      frames++;
      largest = Math.max(largest, frame.byteLength);
    }
    expect(frames).toBeGreaterThan(4);
    expect(largest).toBeLessThan(1024 * 1024);
  });

  it('refuses an image cut short or with a frame missing', () => {
    const { sm, run } = machine();
    for (let i = 0; i < 50; i++) run({ op: 'put', key: `k${i}`, value: bytes('v') });
    const frames = [...new KvStateMachine({ snapshotFrameItems: 8 }).snapshotFrames()];
    expect(frames.length).toBeGreaterThan(1);
    const image = sm.snapshot();
    expect(() =>
      new KvStateMachine().restore(image.subarray(0, image.byteLength - 3), { index: 1, term: 1 }),
    ).toThrow(/cut short/);
    const full = [...new KvStateMachine({ snapshotFrameItems: 8 }).snapshotFrames()];
    const small = new KvStateMachine({ snapshotFrameItems: 8 });
    for (let i = 0; i < 50; i++)
      small.applyRequest({ cmd: { op: 'put', key: `k${i}`, value: bytes('v') } }, { index: i + 1, term: 1 });
    const parts = [...small.snapshotFrames()];
    expect(full.length).toBeGreaterThan(0);
    const missing = joinFrames([...parts.slice(0, 2), ...parts.slice(3)]);
    // Key frames are numbered: a missing one is noticed at the next (or at the end).
    expect(() => new KvStateMachine().restore(missing, { index: 1, term: 1 })).toThrow(
      /incomplete|key frame starts at key 16, 8 read before it/,
    );
    // A key frame whose values are numbered wrong is damaged, not restored.
    const renumbered = parts.map((p) => Buffer.from(p));
    const keyFrame = renumbered[1];
    const valuesAt = 13 + keyFrame.readUInt32BE(9);
    keyFrame.writeUInt32LE(keyFrame.readUInt32LE(valuesAt) + 1, valuesAt);
    expect(() => new KvStateMachine().restore(joinFrames(renumbered), { index: 1, term: 1 })).toThrow(
      /key frame is damaged: key frame value 0 is numbered 1/,
    );
  });

  it('still restores an image of version 2 (key frames with each value after its key)', () => {
    const sm = new KvStateMachine();
    for (let i = 0; i < 300; i++) {
      const cmd: KvCommand =
        i % 7 === 0
          ? { op: 'put', key: `t/${i}`, value: bytes(`ttl ${i}`), ttlMs: 60_000 }
          : { op: 'put', key: `k/${String(i).padStart(4, '0')}`, value: new Uint8Array(i % 50).fill(i) };
      sm.applyRequest({ client: 'c', seq: i + 1, cmd }, { index: i + 1, term: 1 });
    }
    const v3 = [...sm.snapshotFrames()];
    // The same image as version 2 wrote it: header v 2, key frames 0xc1 | u32 count | per key
    // u32 key bytes | key | u32 value bytes | value | f64 mod | f64 create | f64 lease | f64 ttl.
    const header = kvPackr.unpack(v3[0]) as { v: number };
    const v2: Uint8Array[] = [kvPackr.pack({ ...header, v: 2 })];
    for (const body of v3.slice(1)) {
      const frame = Buffer.from(body);
      if (frame[0] !== 0xc1) {
        v2.push(frame);
        continue;
      }
      const count = frame.readUInt32BE(1);
      const parts: Buffer[] = [Buffer.from([0xc1, 0, 0, 0, 0])];
      parts[0].writeUInt32BE(count, 1);
      let at = 13;
      let valueAt = 13 + frame.readUInt32BE(9);
      for (let i = 0; i < count; i++) {
        const keyBytes = frame.readUInt32BE(at);
        const length = frame.readUInt32LE(valueAt + 4);
        const valueLength = Buffer.alloc(4);
        valueLength.writeUInt32BE(length);
        parts.push(
          frame.subarray(at, at + 4 + keyBytes),
          valueLength,
          frame.subarray(valueAt + 8, valueAt + 8 + length),
          frame.subarray(at + 4 + keyBytes, at + 4 + keyBytes + 32),
        );
        at += 4 + keyBytes + 32;
        valueAt += 8 + length;
      }
      v2.push(Buffer.concat(parts));
    }
    const restored = new KvStateMachine();
    restored.restore(joinFrames(v2), { index: 300, term: 1 });
    expect(restored.snapshot()).toEqual(sm.snapshot());
    expect(restored.list('t/').length).toBe(43);
    expect(restored.leases().length).toBe(43);
  });
});
