import { describe, expect, it } from 'vitest';
import { checkLinearizability } from '../../src/testing/index.js';
import { cas, get, put } from './support/ops.js';

describe('counterexamples', () => {
  it('are omitted when the history is linearizable', () => {
    expect(checkLinearizability([put(0, 'a', [0, 1])]).counterexample).toBeUndefined();
  });

  it('are the very op objects passed in', () => {
    const stale = get(1, 'a', [4, 5]);
    const overwrite = put(0, 'b', [2, 3]);
    const result = checkLinearizability([put(0, 'a', [0, 1]), overwrite, stale]);
    expect(result.counterexample![0]).toBe(overwrite);
    expect(result.counterexample![1]).toBe(stale);
  });

  it('start at the last write that finished before everything after it began', () => {
    const history = [
      put(0, 'a', [0, 1]),
      get(1, 'a', [2, 3]),
      put(0, 'b', [4, 5]),
      get(1, 'b', [6, 7]),
      put(0, 'c', [8, 9]),
      get(1, 'a', [10, 11]),
    ];
    expect(checkLinearizability(history).counterexample).toEqual([
      put(0, 'c', [8, 9]),
      get(1, 'a', [10, 11]),
    ]);
  });

  it('end at the answer that made the history fail, leaving out everything invoked later', () => {
    const history = [put(0, 'a', [0, 1]), get(1, null, [2, 3])];
    for (let t = 10; t < 100; t += 2) history.push(put(0, `v${t}`, [t, t + 1]));
    expect(checkLinearizability(history).counterexample).toEqual([put(0, 'a', [0, 1]), get(1, null, [2, 3])]);
  });

  it('drop the reads that play no part in the failure', () => {
    const history = [
      put(0, 'a', [0, 10]),
      get(1, null, [1, 2]),
      get(2, 'a', [3, 4]),
      get(3, null, [5, 6]),
      get(1, 'a', [7, 8]),
    ];
    expect(checkLinearizability(history).counterexample).toEqual([
      put(0, 'a', [0, 10]),
      get(2, 'a', [3, 4]),
      get(3, null, [5, 6]),
    ]);
  });

  it('keep the write that a read saw, so the slice explains itself', () => {
    const history = [put(0, 'a', [0, 10]), get(1, 'a', [1, 2]), get(1, null, [3, 4])];
    expect(checkLinearizability(history).counterexample).toEqual(history);
  });

  it('show a lost update as the write both swaps expected and the two swaps', () => {
    const history = [
      put(0, 'v0', [0, 1]),
      cas(1, 'v0', 'v1', true, [2, 6]),
      cas(2, 'v0', 'v2', true, [3, 7]),
    ];
    expect(checkLinearizability(history).counterexample).toEqual(history);
  });

  it('show an op that was still in flight at the failure with its real answer', () => {
    // The failure is certain once the second read answers (t = 4); the write answers later.
    const history = [put(0, 'a', [0, 10]), get(1, 'a', [1, 2]), get(1, null, [3, 4])];
    const counterexample = checkLinearizability(history).counterexample!;
    expect(counterexample[0].ret).toBe(10);
  });

  it('leave out timed-out writes whose value nothing in the slice looks at', () => {
    const history = [put(0, 'a', [0, 1]), put(2, 'zzz', [0.5, null]), get(1, null, [2, 3])];
    expect(checkLinearizability(history).counterexample).toEqual([put(0, 'a', [0, 1]), get(1, null, [2, 3])]);
  });

  it('keep timed-out writes whose value a read in the slice saw', () => {
    const history = [put(2, 'a', [0, null]), get(1, 'a', [1, 2]), get(1, null, [3, 4])];
    expect(checkLinearizability(history).counterexample).toEqual(history);
  });

  it('come from one key even when several keys fail', () => {
    const history = [
      put(0, 'a', [0, 1], 'k1'),
      get(1, null, [2, 3], 'k1'),
      put(0, 'a', [0, 1], 'k2'),
      get(1, null, [2, 3], 'k2'),
    ];
    const keys = new Set(checkLinearizability(history).counterexample!.map((op) => op.key));
    expect(keys.size).toBe(1);
  });
});
