import { describe, expect, it } from 'vitest';
import { checkLinearizability, type Op } from '../../src/testing/index.js';
import { corruptions } from './support/corruptions.js';
import { generateHistory } from './support/register-workload.js';

const SEEDS = [1, 2, 3, 4, 5];

function workload(seed: number): Op[] {
  return generateHistory({ seed, ops: 2_000, keys: 4, processes: 6, timeoutRate: 0.05 });
}

describe('histories of a concurrent model register', () => {
  for (const seed of SEEDS) {
    it(`accepts a 2,000-op history with timeouts (seed ${seed})`, () => {
      expect(checkLinearizability(workload(seed))).toEqual({ ok: true });
    });
  }

  it('accepts a history with only three distinct values, so that writes repeat', () => {
    const history = generateHistory({
      seed: 9,
      ops: 2_000,
      keys: 2,
      processes: 6,
      timeoutRate: 0.05,
      valueSpace: 3,
    });
    expect(checkLinearizability(history)).toEqual({ ok: true });
  });

  it('accepts a history where every timed-out call took effect', () => {
    const history = generateHistory({
      seed: 10,
      ops: 2_000,
      keys: 4,
      processes: 6,
      timeoutRate: 0.1,
      timedOutTakeEffect: 1,
    });
    expect(checkLinearizability(history)).toEqual({ ok: true });
  });

  it('accepts a history where no timed-out call took effect', () => {
    const history = generateHistory({
      seed: 11,
      ops: 2_000,
      keys: 4,
      processes: 6,
      timeoutRate: 0.1,
      timedOutTakeEffect: 0,
    });
    expect(checkLinearizability(history)).toEqual({ ok: true });
  });

  for (const [name, corrupt] of Object.entries(corruptions)) {
    it(`rejects the same histories with one ${name} injected, and the counterexample shows it`, () => {
      for (const seed of SEEDS) {
        const history = workload(seed);
        const victim = corrupt(history);
        expect(victim).not.toBeNull();
        const result = checkLinearizability(history);
        expect(result.ok).toBe(false);
        expect(result.timedOut).toBeUndefined();
        const counterexample = result.counterexample!;
        expect(counterexample.every((op) => op.key === victim!.key)).toBe(true);
        // Without the victim the history is linearizable, so no slice can fail without it.
        if (victim!.f === 'get') expect(counterexample).toContain(victim);
        expect(checkLinearizability(counterexample).ok).toBe(false);
        expect(counterexample.length).toBeLessThan(20);
      }
    });
  }

  it('decides a 10,000-op history over 10 keys from 10 processes with timeouts', { timeout: 120_000 }, () => {
    const history = generateHistory({ seed: 42, ops: 10_000, keys: 10, processes: 10, timeoutRate: 0.05 });
    expect(checkLinearizability(history)).toEqual({ ok: true });
  });

  it('decides the same 10,000-op history with one stale read injected', { timeout: 120_000 }, () => {
    const history = generateHistory({ seed: 42, ops: 10_000, keys: 10, processes: 10, timeoutRate: 0.05 });
    const victim = corruptions.staleRead(history);
    const result = checkLinearizability(history);
    expect(result.ok).toBe(false);
    expect(result.counterexample).toContain(victim);
  });
});

describe('timeoutMs', () => {
  it('answers timedOut, not a verdict, when the time runs out', () => {
    const history = generateHistory({ seed: 42, ops: 10_000, keys: 2, processes: 10, timeoutRate: 0.05 });
    expect(checkLinearizability(history, { timeoutMs: 0 })).toEqual({ ok: null, timedOut: true });
  });

  it('gives a timed-out check neither verdict, so expecting either one fails', () => {
    // A tampered history whose check runs out of time must not pass a test expecting
    // "not linearizable" (nor one expecting "linearizable").
    const history = generateHistory({ seed: 42, ops: 10_000, keys: 2, processes: 10, timeoutRate: 0.05 });
    const result = checkLinearizability(history, { timeoutMs: 0 });
    expect(result.ok === false).toBe(false);
    expect(result.ok === true).toBe(false);
  });

  it('still reports a key that fails quickly when the time runs out on the others', () => {
    const history = generateHistory({ seed: 42, ops: 10_000, keys: 2, processes: 10, timeoutRate: 0.05 });
    const broken: Op[] = [
      { process: 0, key: 'small', f: 'put', input: 'a', output: null, call: 0, ret: 1 },
      { process: 1, key: 'small', f: 'get', input: null, output: null, call: 2, ret: 3 },
    ];
    const result = checkLinearizability([...history, ...broken], { timeoutMs: 0 });
    expect(result.ok).toBe(false);
    expect(result.timedOut).toBeUndefined();
    expect(result.counterexample).toEqual(broken);
  });
});
