import { describe, expect, it } from 'vitest';
import { checkLinearizability } from '../../src/testing/index.js';
import { cas, get, put } from './support/ops.js';

describe('classic anomalies are not linearizable', () => {
  it('rejects a stale read: a read after an overwrite returns the old value', () => {
    const history = [put(0, 'a', [0, 1]), put(0, 'b', [2, 3]), get(1, 'a', [4, 5])];
    expect(checkLinearizability(history).ok).toBe(false);
  });

  it('rejects a lost update: two cas from the same expected value both succeed', () => {
    const history = [
      put(0, 'v0', [0, 1]),
      cas(1, 'v0', 'v1', true, [2, 6]),
      cas(2, 'v0', 'v2', true, [3, 7]),
    ];
    expect(checkLinearizability(history).ok).toBe(false);
  });

  it('rejects a write applied twice: an overwritten value comes back with no new write', () => {
    const history = [
      put(0, 'a', [0, 1]),
      get(1, 'a', [2, 3]),
      put(0, 'b', [4, 5]),
      get(1, 'b', [6, 7]),
      get(1, 'a', [8, 9]),
    ];
    expect(checkLinearizability(history).ok).toBe(false);
  });

  it('rejects a read of a value that was never written', () => {
    const history = [put(0, 'a', [0, 1]), get(1, 'ghost', [2, 3])];
    expect(checkLinearizability(history).ok).toBe(false);
  });

  it('rejects a read of a value before its write was called', () => {
    const history = [get(1, 'a', [0, 1]), put(0, 'a', [2, 3])];
    expect(checkLinearizability(history).ok).toBe(false);
  });

  it('rejects a read of absent after a write completed', () => {
    const history = [put(0, 'a', [0, 1]), get(1, null, [2, 3])];
    expect(checkLinearizability(history).ok).toBe(false);
  });

  it('rejects two reads that see a concurrent write in opposite orders', () => {
    // r1 sees the new value and finishes before r2 starts, yet r2 sees the old one.
    const history = [put(0, 'a', [0, 1]), put(0, 'b', [2, 20]), get(1, 'b', [3, 4]), get(2, 'a', [5, 6])];
    expect(checkLinearizability(history).ok).toBe(false);
  });

  it('rejects a cas that failed although its expected value was certainly there', () => {
    const history = [put(0, 'a', [0, 1]), cas(1, 'a', 'b', false, [2, 3])];
    expect(checkLinearizability(history).ok).toBe(false);
  });

  it('rejects a cas that succeeded although its expected value was certainly not there', () => {
    const history = [put(0, 'a', [0, 1]), cas(1, 'z', 'b', true, [2, 3])];
    expect(checkLinearizability(history).ok).toBe(false);
  });

  it('rejects a create-if-absent cas that succeeded on an existing key', () => {
    const history = [put(0, 'a', [0, 1]), cas(1, null, 'b', true, [2, 3])];
    expect(checkLinearizability(history).ok).toBe(false);
  });

  it('rejects a history when only one of its keys is broken', () => {
    const history = [
      put(0, 'a', [0, 1], 'good'),
      get(1, 'a', [2, 3], 'good'),
      put(0, 'a', [0, 1], 'bad'),
      get(1, null, [2, 3], 'bad'),
    ];
    expect(checkLinearizability(history).ok).toBe(false);
  });

  it('rejects a read that only a timed-out write could explain, read before that write was called', () => {
    const history = [get(1, 'a', [0, 1]), put(0, 'a', [2, null])];
    expect(checkLinearizability(history).ok).toBe(false);
  });
});
