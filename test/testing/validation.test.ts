import { describe, expect, it } from 'vitest';
import { checkLinearizability, InvalidHistoryError, type Op } from '../../src/testing/index.js';
import { get, put } from './support/ops.js';

/** Runs the checker on a history whose op at index 1 is `bad`, and returns what it threw. */
function errorFor(bad: unknown): InvalidHistoryError {
  try {
    checkLinearizability([put(0, 'a', [0, 1]), bad as Op]);
  } catch (error) {
    return error as InvalidHistoryError;
  }
  throw new Error('checkLinearizability accepted a malformed op');
}

describe('malformed histories are rejected with the index of the op and the problem', () => {
  it('throws an InvalidHistoryError, a TypeError with code INVALID_HISTORY, naming the op index', () => {
    const error = errorFor({ ...get(1, null, [2, 3]), input: 'x' });
    expect(error).toBeInstanceOf(InvalidHistoryError);
    expect(error).toBeInstanceOf(TypeError);
    expect(error.code).toBe('INVALID_HISTORY');
    expect(error.index).toBe(1);
    expect(error.message).toMatch(/^ops\[1\]: get input must be null/);
  });

  it('rejects an answer that arrives before the call', () => {
    expect(errorFor(get(1, null, [5, 4])).problem).toMatch(/ret \(4\) is before call \(5\)/);
  });

  it('rejects a put without a string value', () => {
    expect(errorFor({ ...put(1, 'a', [2, 3]), input: null }).problem).toMatch(/put input must be/);
  });

  it('rejects a put with an output', () => {
    expect(errorFor({ ...put(1, 'a', [2, 3]), output: 'a' }).problem).toMatch(/put output must be null/);
  });

  it('rejects a cas whose input is not [expected, next]', () => {
    const bad = { process: 1, key: 'x', f: 'cas', input: ['a'], output: true, call: 2, ret: 3 };
    expect(errorFor(bad).problem).toMatch(/cas input must be \[expected: string \| null, next: string\]/);
  });

  it('rejects a cas whose next value is null', () => {
    const bad = { process: 1, key: 'x', f: 'cas', input: ['a', null], output: true, call: 2, ret: 3 };
    expect(errorFor(bad).problem).toMatch(/cas input must be/);
  });

  it('rejects a completed cas without a boolean output', () => {
    const bad = { process: 1, key: 'x', f: 'cas', input: ['a', 'b'], output: null, call: 2, ret: 3 };
    expect(errorFor(bad).problem).toMatch(/cas output must be true/);
  });

  it('rejects a completed get whose output is not a string or null', () => {
    expect(errorFor({ ...get(1, null, [2, 3]), output: true }).problem).toMatch(/get output must be/);
  });

  it('rejects an unknown operation', () => {
    expect(errorFor({ ...get(1, null, [2, 3]), f: 'delete' }).problem).toMatch(
      /f must be 'get', 'put' or 'cas'/,
    );
  });

  it('rejects a key that is not a string', () => {
    expect(errorFor({ ...get(1, null, [2, 3]), key: 7 }).problem).toMatch(/key must be a string/);
  });

  it('rejects times that are not finite numbers', () => {
    expect(errorFor({ ...get(1, null, [2, 3]), call: Number.NaN }).problem).toMatch(
      /call must be a finite number/,
    );
    expect(errorFor({ ...get(1, null, [2, 3]), ret: undefined }).problem).toMatch(
      /ret must be a finite number/,
    );
  });

  it('rejects a process that is not a number', () => {
    expect(errorFor({ ...get(1, null, [2, 3]), process: 'p1' }).problem).toMatch(
      /process must be a finite number/,
    );
  });

  it('rejects an op that is not an object', () => {
    expect(errorFor(null).problem).toMatch(/must be an object/);
  });

  it('rejects a history that is not an array', () => {
    expect(() => checkLinearizability({} as Op[])).toThrow(InvalidHistoryError);
  });

  it('accepts any output on a timed-out op, since it is ignored', () => {
    const timedOut = {
      process: 1,
      key: 'x',
      f: 'cas',
      input: ['a', 'b'],
      output: 'whatever',
      call: 2,
      ret: null,
    };
    expect(() => checkLinearizability([timedOut as Op])).not.toThrow();
  });

  it('rejects a negative timeoutMs', () => {
    expect(() => checkLinearizability([], { timeoutMs: -1 })).toThrow(/timeoutMs must be a number >= 0/);
  });
});
