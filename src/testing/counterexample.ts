/**
 * Shrinking a non-linearizable register history to a small slice that explains the failure.
 *
 * The slice C keeps one guarantee throughout: C is not linearizable, and neither is C plus any set of
 * the ops left out. So nothing that really happened can explain C away; in particular shrinking never
 * cuts away the write that a read saw. Steps, repeated while they make progress:
 *  1. truncate at the earliest answer time t at which the history already fails (see truncateAt);
 *     failing is monotone in t, so a binary search finds it;
 *  2. drop reads and failed cas: they leave the register as it was, so adding them back to a failing
 *     history keeps it failing;
 *  3. drop the completed ops that finished before a put that is ordered against every other
 *     completed op (all others finished before it began or began after it finished): in any
 *     linearization the put comes after all of them and sets the state whatever they did, so none of
 *     them can matter again (pending ops they preceded are kept: they may take effect after the put).
 * Completed writes and swaps are dropped only by 1 and 3, so the slice keeps the writes that explain
 * what its reads saw.
 *
 * Finally, pending ops whose value no op of the slice reads or expects are left out of the answer.
 * That is safe at the end only: removing a pending op never makes a failing history pass (it could
 * have been left out of any linearization), but steps 1-3 must still see it, because adding it back
 * could explain away a read or failed cas they would otherwise drop.
 *
 * Each search runs within a shared effort budget; when it runs out the current slice is returned,
 * which keeps the guarantee but may not be minimal.
 */
import { Kind, type RegisterOp, truncateAt } from './register-ops.js';
import { type SearchLimits, searchRegister } from './register-search.js';

/** Tracks the effort left and runs the search within it. */
class Prover {
  constructor(private limits: SearchLimits) {}

  get exhausted(): boolean {
    return this.limits.maxSteps <= 0 || performance.now() > this.limits.deadline;
  }

  /** True only when `ops` was proven not linearizable within the budget. */
  fails(ops: readonly RegisterOp[]): boolean {
    if (this.exhausted) return false;
    const outcome = searchRegister(ops, this.limits);
    this.limits = { ...this.limits, maxSteps: this.limits.maxSteps - outcome.steps };
    return outcome.verdict === 'not-linearizable';
  }
}

/** The slice at the earliest answer time at which the history already fails. `ops` must fail. */
function earliestFailingPrefix(ops: RegisterOp[], prover: Prover): RegisterOp[] {
  const times = [...new Set(ops.filter((op) => !op.pending).map((op) => op.ret))].sort((a, b) => a - b);
  if (times.length === 0) return ops;
  // Failing is monotone in t (a failing prefix makes every later one fail), so binary search works;
  // the last time is the whole history, which is known to fail.
  let lo = 0;
  let hi = times.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (prover.fails(truncateAt(ops, times[mid]))) hi = mid;
    else lo = mid + 1;
  }
  return hi === times.length - 1 ? ops : truncateAt(ops, times[hi]);
}

/** Removes as many of `candidates` as it can while `ops` keeps failing (ddmin-style chunks). */
function dropWhileFailing(ops: RegisterOp[], candidates: RegisterOp[], prover: Prover): RegisterOp[] {
  let current = ops;
  let left = candidates;
  let chunk = Math.ceil(left.length / 2);
  while (chunk >= 1 && left.length > 0 && !prover.exhausted) {
    for (let start = 0; start < left.length; ) {
      const drop = new Set(left.slice(start, start + chunk));
      const trial = current.filter((op) => !drop.has(op));
      if (prover.fails(trial)) {
        current = trial;
        left = left.filter((op) => !drop.has(op));
      } else {
        start += chunk;
      }
    }
    chunk = chunk === 1 ? 0 : Math.ceil(chunk / 2);
  }
  return current;
}

function isNoEffect(op: RegisterOp): boolean {
  return !op.pending && (op.kind === Kind.Read || op.kind === Kind.NoSwap);
}

/** Pending writes and swaps whose value no op of `ops` reads or expects. */
function unseenPending(ops: readonly RegisterOp[]): RegisterOp[] {
  const seen = new Set<number>();
  for (const op of ops) {
    if (op.kind === Kind.Read) seen.add(op.value);
    else if (op.kind === Kind.Swap || op.kind === Kind.NoSwap) seen.add(op.expected);
  }
  return ops.filter((op) => op.pending && !seen.has(op.value));
}

/**
 * The slice without the completed ops that finished before the latest put that is ordered against
 * every other completed op, if that slice still fails. Pending ops stay: they may take effect later.
 */
function cutBeforeOrderedPut(ops: RegisterOp[], prover: Prover): RegisterOp[] {
  const completed = ops.filter((op) => !op.pending).sort((a, b) => b.call - a.call);
  for (const put of completed) {
    if (put.kind !== Kind.Write) continue;
    const earlier = completed.filter((op) => op.ret < put.call);
    if (earlier.length === 0) continue;
    if (!completed.every((op) => op === put || op.ret < put.call || op.call > put.ret)) continue;
    const dropped = new Set(earlier);
    const slice = ops.filter((op) => !dropped.has(op));
    if (prover.fails(slice)) return slice;
  }
  return ops;
}

/**
 * A small slice of `ops` (which must fail) that fails on its own and with any of the rest added back,
 * found within `limits`. Ops cut in flight by a truncation come back as pending copies; each keeps
 * the `source` it was made from.
 */
export function shrinkCounterexample(ops: readonly RegisterOp[], limits: SearchLimits): RegisterOp[] {
  const prover = new Prover(limits);
  let current = earliestFailingPrefix([...ops], prover);
  for (;;) {
    const before = current.length;
    current = dropWhileFailing(current, current.filter(isNoEffect), prover);
    current = cutBeforeOrderedPut(current, prover);
    current = earliestFailingPrefix(current, prover);
    if (current.length === before || prover.exhausted) break;
  }
  const unseen = new Set(unseenPending(current));
  return current.filter((op) => !unseen.has(op));
}
