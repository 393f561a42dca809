/**
 * checkLinearizability: does a key-value history have a linearization, i.e. could every call have
 * taken effect atomically at one instant between its invocation and its answer, in an order that a
 * single register per key explains?
 *
 * Keys are independent (linearizability is compositional, Herlihy & Wing), so each key's
 * sub-history is searched on its own, smallest first, and the first failing key is shrunk to a
 * counterexample.
 */
import { shrinkCounterexample } from './counterexample.js';
import { type Op, validateHistory } from './history.js';
import { type RegisterOp, toRegisterOp, ValueIds } from './register-ops.js';
import { searchRegister } from './register-search.js';

export interface CheckOptions {
  /**
   * Stop searching after this many milliseconds and answer `{ ok: null, timedOut: true }`
   * (undecided). Default: no limit.
   */
  timeoutMs?: number;
}

export interface CheckResult {
  /**
   * true: linearizable. false: not linearizable (see `counterexample`). null: undecided, the
   * time ran out (`timedOut`) — neither `ok === true` nor `ok === false` holds, so a test that
   * expects either verdict fails instead of passing on a search that never finished.
   */
  ok: boolean | null;
  /** Set when the time ran out before a verdict: the history is neither proven good nor bad. */
  timedOut?: boolean;
  /**
   * When not linearizable: ops (the very objects passed in) of one key, in call order, that are not
   * linearizable on their own and whose failure implies the whole history's. See
   * docs/linearizability.md for what "smallest" means.
   */
  counterexample?: Op[];
}

/** A bad `opts` argument. */
export class InvalidCheckOptionsError extends TypeError {
  readonly code = 'INVALID_ARGUMENT';
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Effort spent shrinking a counterexample, in search transitions (keeps the result deterministic). */
const SHRINK_STEPS = 2_000_000;

function byKey(ops: readonly Op[]): RegisterOp[][] {
  const groups = new Map<string, { values: ValueIds; ops: RegisterOp[] }>();
  for (const op of ops) {
    let group = groups.get(op.key);
    if (group === undefined) {
      group = { values: new ValueIds(), ops: [] };
      groups.set(op.key, group);
    }
    const registerOp = toRegisterOp(op, group.values);
    if (registerOp !== null) group.ops.push(registerOp);
  }
  return [...groups.values()].map((group) => group.ops);
}

export function checkLinearizability(ops: Op[], opts: CheckOptions = {}): CheckResult {
  validateHistory(ops);
  const { timeoutMs } = opts;
  if (timeoutMs !== undefined && !(typeof timeoutMs === 'number' && timeoutMs >= 0)) {
    throw new InvalidCheckOptionsError(`timeoutMs must be a number >= 0, got ${String(timeoutMs)}`);
  }
  const deadline = timeoutMs === undefined ? Number.POSITIVE_INFINITY : performance.now() + timeoutMs;

  // Small keys first: a quick failure is a final answer even if a big key would time out.
  const keys = byKey(ops).sort((a, b) => a.length - b.length);
  let timedOut = false;
  for (const keyOps of keys) {
    const { verdict } = searchRegister(keyOps, { deadline, maxSteps: Number.POSITIVE_INFINITY });
    if (verdict === 'gave-up') timedOut = true;
    if (verdict !== 'not-linearizable') continue;
    const slice = shrinkCounterexample(keyOps, { deadline, maxSteps: SHRINK_STEPS });
    const position = new Map(ops.map((op, index) => [op, index]));
    const counterexample = slice
      .map((op) => op.source)
      .sort((a, b) => a.call - b.call || position.get(a)! - position.get(b)!);
    return { ok: false, counterexample };
  }
  return timedOut ? { ok: null, timedOut: true } : { ok: true };
}
