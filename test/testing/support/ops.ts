/** Terse constructors for hand-written histories: one op per line reads like a timeline. */
import type { Op } from '../../../src/testing/index.js';

type Interval = [call: number, ret: number | null];

export function get(process: number, output: string | null, [call, ret]: Interval, key = 'x'): Op {
  return { process, key, f: 'get', input: null, output, call, ret };
}

export function put(process: number, value: string, [call, ret]: Interval, key = 'x'): Op {
  return { process, key, f: 'put', input: value, output: null, call, ret };
}

export function cas(
  process: number,
  expected: string | null,
  next: string,
  output: boolean,
  [call, ret]: Interval,
  key = 'x',
): Op {
  return { process, key, f: 'cas', input: [expected, next], output, call, ret };
}
