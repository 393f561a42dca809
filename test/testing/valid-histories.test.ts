import { describe, expect, it } from 'vitest';
import { checkLinearizability } from '../../src/testing/index.js';
import { cas, get, put } from './support/ops.js';

describe('linearizable histories pass', () => {
  it('accepts the empty history', () => {
    expect(checkLinearizability([])).toEqual({ ok: true });
  });

  it('accepts a read of absent on a key never written', () => {
    expect(checkLinearizability([get(0, null, [0, 1])])).toEqual({ ok: true });
  });

  it('accepts a sequential history', () => {
    const history = [
      put(0, 'a', [0, 1]),
      get(0, 'a', [2, 3]),
      cas(0, 'a', 'b', true, [4, 5]),
      cas(0, 'a', 'c', false, [6, 7]),
      get(0, 'b', [8, 9]),
    ];
    expect(checkLinearizability(history)).toEqual({ ok: true });
  });

  it('accepts a read concurrent with a write that sees the new value', () => {
    const history = [put(0, 'a', [0, 1]), put(0, 'b', [2, 10]), get(1, 'b', [3, 4])];
    expect(checkLinearizability(history).ok).toBe(true);
  });

  it('accepts a read concurrent with a write that sees the old value', () => {
    const history = [put(0, 'a', [0, 1]), put(0, 'b', [2, 10]), get(1, 'a', [3, 4])];
    expect(checkLinearizability(history).ok).toBe(true);
  });

  it('accepts overlapping writes taking effect in the opposite order of their calls', () => {
    const history = [put(0, 'a', [0, 10]), put(1, 'b', [1, 9]), get(2, 'a', [11, 12])];
    expect(checkLinearizability(history).ok).toBe(true);
  });

  it('treats ops that touch at one instant as concurrent', () => {
    // The write answers at 5, the read is invoked at 5: either order is allowed.
    const history = [put(0, 'a', [0, 5]), get(1, null, [5, 6])];
    expect(checkLinearizability(history).ok).toBe(true);
  });

  it('accepts a timed-out write that took effect', () => {
    const history = [put(0, 'a', [0, null]), get(1, 'a', [5, 6])];
    expect(checkLinearizability(history).ok).toBe(true);
  });

  it('accepts a timed-out write that never took effect', () => {
    const history = [put(0, 'a', [0, null]), get(1, null, [5, 6]), get(1, null, [7, 8])];
    expect(checkLinearizability(history).ok).toBe(true);
  });

  it('accepts a timed-out write that takes effect long after it was called', () => {
    const history = [put(0, 'a', [0, null]), get(1, null, [5, 6]), get(1, 'a', [100, 101])];
    expect(checkLinearizability(history).ok).toBe(true);
  });

  it('ignores the output recorded for a timed-out op', () => {
    const history = [
      put(0, 'a', [0, 1]),
      { ...get(1, 'nonsense', [2, null]) },
      cas(2, 'a', 'b', false, [3, null]),
    ];
    expect(checkLinearizability(history).ok).toBe(true);
  });

  it('accepts a timed-out cas that swapped', () => {
    const history = [put(0, 'a', [0, 1]), cas(1, 'a', 'b', false, [2, null]), get(2, 'b', [5, 6])];
    expect(checkLinearizability(history).ok).toBe(true);
  });

  it('accepts a create-if-absent cas with a null expected value', () => {
    const history = [cas(0, null, 'a', true, [0, 1]), cas(1, null, 'b', false, [2, 3]), get(1, 'a', [4, 5])];
    expect(checkLinearizability(history).ok).toBe(true);
  });

  it('accepts two concurrent create-if-absent cas where exactly one wins', () => {
    const history = [
      cas(0, null, 'a', true, [0, 10]),
      cas(1, null, 'b', false, [1, 9]),
      get(2, 'a', [11, 12]),
    ];
    expect(checkLinearizability(history).ok).toBe(true);
  });

  it('accepts keys that would only be wrong if they shared one register', () => {
    const history = [put(0, 'a', [0, 1], 'k1'), get(1, null, [2, 3], 'k2'), get(1, 'a', [4, 5], 'k1')];
    expect(checkLinearizability(history).ok).toBe(true);
  });

  it('accepts the same value written twice and read in between', () => {
    const history = [put(0, 'a', [0, 1]), put(0, 'b', [2, 3]), put(0, 'a', [4, 5]), get(1, 'a', [6, 7])];
    expect(checkLinearizability(history).ok).toBe(true);
  });
});
