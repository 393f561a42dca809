/**
 * A reference linearizability check by exhaustive search over orders, written straight from the
 * definition and independent of the checker's code: small histories only (n! orders).
 */
import type { Op } from '../../../src/testing/index.js';

/** Whether some order of the ops explains every answer, with the ops of all keys in one order. */
export function bruteForceLinearizable(ops: readonly Op[]): boolean {
  // A timed-out get has no effect and its answer is unknown: it can never be the reason for failure.
  const relevant = ops.filter((op) => !(op.ret === null && op.f === 'get'));
  const pending = relevant.filter((op) => op.ret === null);
  const completed = relevant.filter((op) => op.ret !== null);
  for (let mask = 0; mask < 1 << pending.length; mask++) {
    const included = [...completed, ...pending.filter((_, j) => mask & (1 << j))];
    if (orderExists(included, new Set(), new Map())) return true;
  }
  return false;
}

function precedes(a: Op, b: Op): boolean {
  return a.ret !== null && a.ret < b.call;
}

function orderExists(ops: readonly Op[], placed: Set<Op>, state: Map<string, string | null>): boolean {
  if (placed.size === ops.length) return true;
  for (const op of ops) {
    if (placed.has(op)) continue;
    if (ops.some((other) => !placed.has(other) && other !== op && precedes(other, op))) continue;
    const before = state.get(op.key) ?? null;
    let after: string | null;
    if (op.f === 'get') {
      if (op.output !== before) continue;
      after = before;
    } else if (op.f === 'put') {
      after = op.input as string;
    } else {
      const [expected, next] = op.input as [string | null, string];
      // A timed-out cas that is included is one that took effect, hence one that swapped.
      const swapped = op.ret === null ? true : op.output === true;
      if (swapped !== (before === expected)) continue;
      after = swapped ? next : before;
    }
    placed.add(op);
    state.set(op.key, after);
    const found = orderExists(ops, placed, state);
    placed.delete(op);
    state.set(op.key, before);
    if (found) return true;
  }
  return false;
}

/**
 * A second reference for medium histories of one key: the plain memoised search with none of the
 * checker's reductions (every pending op may be applied anywhere after its call, or never).
 */
export function plainSearchLinearizable(ops: readonly Op[]): boolean {
  const relevant = ops.filter((op) => !(op.ret === null && op.f === 'get'));
  const failed = new Set<string>();
  const linearized = relevant.map(() => false);
  const search = (state: string | null): boolean => {
    if (relevant.every((op, i) => linearized[i] || op.ret === null)) return true;
    const memo = `${linearized.map((b) => (b ? 1 : 0)).join('')}|${state}`;
    if (failed.has(memo)) return false;
    for (let i = 0; i < relevant.length; i++) {
      const op = relevant[i];
      if (linearized[i]) continue;
      if (relevant.some((other, j) => !linearized[j] && j !== i && precedes(other, op))) continue;
      let after: string | null;
      if (op.f === 'get') {
        if (op.output !== state) continue;
        after = state;
      } else if (op.f === 'put') {
        after = op.input as string;
      } else {
        const [expected, next] = op.input as [string | null, string];
        const swapped = op.ret === null ? true : op.output === true;
        if (swapped !== (state === expected)) continue;
        after = swapped ? next : state;
      }
      linearized[i] = true;
      const found = search(after);
      linearized[i] = false;
      if (found) return true;
    }
    failed.add(memo);
    return false;
  };
  return search(null);
}
