/**
 * The history format the linearizability checker reads, and its validation.
 * One `Op` is one client call on one key of a register store, with the times it was invoked and
 * answered on a single monotonic clock.
 */

/** One completed, failed or timed-out client call. */
export type Op = {
  /** Who made the call. Only used in reports; the checker never assumes a process is sequential. */
  process: number;
  /** The register the call touched. Keys are checked independently; every key starts absent. */
  key: string;
  f: 'get' | 'put' | 'cas';
  /** get: null; put: the value written; cas: [expected (null = absent), next]. */
  input: string | null | [expected: string | null, next: string];
  /** get: the value read (null = absent); put: null; cas: whether it swapped. Ignored when `ret` is null. */
  output: string | null | boolean;
  /** When the call was invoked (any monotonic clock; same clock for every op). */
  call: number;
  /** When the answer arrived; null when it never did (timeout, crash): it may or may not have taken effect. */
  ret: number | null;
};

/** A history the checker cannot read: `index` is the position of the offending op in the input array. */
export class InvalidHistoryError extends TypeError {
  readonly code = 'INVALID_HISTORY';
  constructor(
    readonly index: number,
    readonly problem: string,
  ) {
    super(index < 0 ? problem : `ops[${index}]: ${problem}`);
    this.name = new.target.name;
  }
}

function isValue(x: unknown): x is string {
  return typeof x === 'string';
}

function describe(x: unknown): string {
  if (x === undefined) return 'undefined';
  try {
    return JSON.stringify(x) ?? String(x);
  } catch {
    return String(x);
  }
}

/** The first problem with one op, or null when it is well formed. */
function problemWith(op: unknown): string | null {
  if (typeof op !== 'object' || op === null) return `must be an object, got ${describe(op)}`;
  const o = op as Record<string, unknown>;
  if (typeof o.process !== 'number' || !Number.isFinite(o.process)) {
    return `process must be a finite number, got ${describe(o.process)}`;
  }
  if (typeof o.key !== 'string') return `key must be a string, got ${describe(o.key)}`;
  if (typeof o.call !== 'number' || !Number.isFinite(o.call)) {
    return `call must be a finite number, got ${describe(o.call)}`;
  }
  if (o.ret !== null) {
    if (typeof o.ret !== 'number' || !Number.isFinite(o.ret)) {
      return `ret must be a finite number or null (timed out), got ${describe(o.ret)}`;
    }
    if (o.ret < o.call) return `ret (${o.ret}) is before call (${o.call})`;
  }
  const completed = o.ret !== null;
  switch (o.f) {
    case 'get':
      if (o.input !== null) return `get input must be null, got ${describe(o.input)}`;
      if (completed && o.output !== null && !isValue(o.output)) {
        return `get output must be the value read (string) or null (absent), got ${describe(o.output)}`;
      }
      return null;
    case 'put':
      if (!isValue(o.input)) return `put input must be the value written (string), got ${describe(o.input)}`;
      if (completed && o.output !== null) return `put output must be null, got ${describe(o.output)}`;
      return null;
    case 'cas': {
      const input = o.input;
      if (
        !Array.isArray(input) ||
        input.length !== 2 ||
        !(input[0] === null || isValue(input[0])) ||
        !isValue(input[1])
      ) {
        return `cas input must be [expected: string | null, next: string], got ${describe(input)}`;
      }
      if (completed && typeof o.output !== 'boolean') {
        return `cas output must be true (swapped) or false, got ${describe(o.output)}`;
      }
      return null;
    }
    default:
      return `f must be 'get', 'put' or 'cas', got ${describe(o.f)}`;
  }
}

/** Throws {@link InvalidHistoryError} naming the first malformed op. */
export function validateHistory(ops: unknown): asserts ops is Op[] {
  if (!Array.isArray(ops))
    throw new InvalidHistoryError(-1, `history must be an array of ops, got ${describe(ops)}`);
  for (let i = 0; i < ops.length; i++) {
    const problem = problemWith(ops[i]);
    if (problem !== null) throw new InvalidHistoryError(i, problem);
  }
}
