import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkLinearizability, type Op } from '../../src/testing/index.js';
import { bruteForceLinearizable, plainSearchLinearizable } from './support/brute-force.js';
import { generateHistory } from './support/register-workload.js';

const VALUES = ['a', 'b', 'c'];

/** Tiny histories with few values and coarse times, so that ties, repeats and anomalies are common. */
const arbitraryOp: fc.Arbitrary<Op> = fc
  .record({
    process: fc.nat(3),
    key: fc.constantFrom('k1', 'k2'),
    f: fc.constantFrom<Op['f']>('get', 'put', 'cas'),
    value: fc.constantFrom(...VALUES),
    read: fc.constantFrom(null, ...VALUES),
    expected: fc.constantFrom(null, ...VALUES),
    swapped: fc.boolean(),
    call: fc.nat(12),
    duration: fc.nat(6),
    timedOut: fc.nat(5).map((n) => n === 0),
  })
  .map((r) => {
    const ret = r.timedOut ? null : r.call + r.duration;
    if (r.f === 'get')
      return { process: r.process, key: r.key, f: 'get', input: null, output: r.read, call: r.call, ret };
    if (r.f === 'put')
      return { process: r.process, key: r.key, f: 'put', input: r.value, output: null, call: r.call, ret };
    return {
      process: r.process,
      key: r.key,
      f: 'cas',
      input: [r.expected, r.value],
      output: r.swapped,
      call: r.call,
      ret,
    };
  });

const smallHistory = fc.array(arbitraryOp, { minLength: 0, maxLength: 7 });

/** Valid small histories from the model register, optionally with one answer changed. */
const modelHistory = fc
  .record({
    seed: fc.integer(),
    ops: fc.integer({ min: 1, max: 7 }),
    tamper: fc.option(fc.nat(6)),
    read: fc.constantFrom(null, ...VALUES),
  })
  .map(({ seed, ops, tamper, read }) => {
    const history = generateHistory({ seed, ops, keys: 1, processes: 3, timeoutRate: 0.2, valueSpace: 3 });
    const victim = tamper === null ? undefined : history[tamper % history.length];
    if (victim !== undefined && victim.ret !== null) {
      if (victim.f === 'get') victim.output = read;
      if (victim.f === 'cas') victim.output = !victim.output;
    }
    return history;
  });

/** Random and tampered model histories: the latter have more timeouts and repeated values. */
const anyHistory = fc.oneof(smallHistory, modelHistory);

function subsetsOf<T>(items: readonly T[]): T[][] {
  let all: T[][] = [[]];
  for (const item of items) all = all.concat(all.map((subset) => [...subset, item]));
  return all;
}

const runs = { numRuns: 400, seed: 4242 };

describe('the checker agrees with an exhaustive search on small histories', () => {
  it('gives the same verdict as trying every order, on random histories', () => {
    fc.assert(
      fc.property(smallHistory, (history) => {
        expect(checkLinearizability(history).ok).toBe(bruteForceLinearizable(history));
      }),
      runs,
    );
  });

  it('gives the same verdict as trying every order, on model histories with one answer changed', () => {
    fc.assert(
      fc.property(modelHistory, (history) => {
        expect(checkLinearizability(history).ok).toBe(bruteForceLinearizable(history));
      }),
      runs,
    );
  });
});

describe('counterexamples', () => {
  it('are ops of one key from the input, in call order, that fail on their own', () => {
    fc.assert(
      fc.property(anyHistory, (history) => {
        const result = checkLinearizability(history);
        if (result.ok) return;
        const counterexample = result.counterexample!;
        expect(counterexample.length).toBeGreaterThan(0);
        expect(counterexample.every((op) => history.includes(op))).toBe(true);
        expect(new Set(counterexample.map((op) => op.key)).size).toBe(1);
        expect(counterexample.map((op) => op.call)).toEqual(
          [...counterexample.map((op) => op.call)].sort((a, b) => a - b),
        );
        expect(bruteForceLinearizable(counterexample)).toBe(false);
      }),
      runs,
    );
  });

  it('cannot be explained away by adding back any of the ops left out', () => {
    fc.assert(
      fc.property(anyHistory, (history) => {
        const result = checkLinearizability(history);
        if (result.ok) return;
        const counterexample = result.counterexample!;
        const key = counterexample[0].key;
        const leftOut = history.filter((op) => op.key === key && !counterexample.includes(op));
        for (const addBack of subsetsOf(leftOut)) {
          expect(bruteForceLinearizable([...counterexample, ...addBack])).toBe(false);
        }
      }),
      runs,
    );
  });

  it('keep no read or failed cas whose removal would leave a slice that the rest could explain away', () => {
    fc.assert(
      fc.property(anyHistory, (history) => {
        const result = checkLinearizability(history);
        if (result.ok) return;
        const counterexample = result.counterexample!;
        const leftOut = history.filter(
          (op) => op.key === counterexample[0].key && !counterexample.includes(op),
        );
        // The slice fails as seen at some answer time t: ops answered later count as in flight.
        const times = [...new Set(counterexample.flatMap((op) => (op.ret === null ? [] : [op.ret])))].sort(
          (a, b) => a - b,
        );
        const t = times.find((time) => !bruteForceLinearizable(asSeenAt(counterexample, time)));
        expect(t).toBeDefined();
        for (const op of counterexample) {
          const noEffect =
            op.ret !== null && op.ret <= t! && (op.f === 'get' || (op.f === 'cas' && !op.output));
          if (!noEffect) continue;
          const without = counterexample.filter((other) => other !== op);
          const explainable = subsetsOf(leftOut).some((addBack) =>
            bruteForceLinearizable(asSeenAt([...without, ...addBack], t!)),
          );
          expect(explainable).toBe(true);
        }
      }),
      runs,
    );
  });
});

/** The history as seen at time t: later calls gone, answers after t unknown (reads and failed cas, which never have an effect, left out). */
function asSeenAt(history: readonly Op[], t: number): Op[] {
  return history
    .filter((op) => op.call <= t)
    .filter((op) => op.ret === null || op.ret <= t || !(op.f === 'get' || (op.f === 'cas' && !op.output)))
    .map((op) => (op.ret !== null && op.ret > t ? { ...op, ret: null } : op));
}

describe('the checker agrees with a plain memoised search on medium histories with many timeouts', () => {
  const mediumHistory = fc
    .record({
      seed: fc.integer(),
      ops: fc.integer({ min: 8, max: 22 }),
      processes: fc.integer({ min: 2, max: 5 }),
      valueSpace: fc.constantFrom(2, 4, undefined),
      tamper: fc.option(fc.nat(30)),
      read: fc.constantFrom(null, ...VALUES),
    })
    .map(({ seed, ops, processes, valueSpace, tamper, read }) => {
      const history = generateHistory({ seed, ops, keys: 1, processes, timeoutRate: 0.35, valueSpace });
      const victim = tamper === null ? undefined : history[tamper % history.length];
      if (victim !== undefined && victim.ret !== null) {
        if (victim.f === 'get') victim.output = read;
        if (victim.f === 'cas') victim.output = !victim.output;
      }
      return history;
    });

  it('gives the same verdict', () => {
    fc.assert(
      fc.property(mediumHistory, (history) => {
        expect(checkLinearizability(history).ok).toBe(plainSearchLinearizable(history));
      }),
      { numRuns: 300, seed: 777 },
    );
  });
});
