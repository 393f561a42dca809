/**
 * One key's history in the form the search works on: values interned to small integers, and every
 * call reduced to what it requires of the register and what it leaves in it.
 */
import type { Op } from './history.js';

/** The interned id of "absent". */
export const ABSENT = 0;

/**
 * What a call requires of the register and leaves in it.
 * Read: a get that answered; requires state === value.
 * Write: a put; state := value.
 * Swap: a cas that swapped (or a timed-out cas, which may have); requires state === expected; state := value.
 * NoSwap: a cas that answered false; requires state !== expected.
 */
export const Kind = { Read: 0, Write: 1, Swap: 2, NoSwap: 3 } as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

export interface RegisterOp {
  /** The op of the caller's history this was made from (returned in counterexamples). */
  readonly source: Op;
  readonly kind: Kind;
  /** Read: the value read; Write/Swap: the value left; NoSwap: unused. */
  readonly value: number;
  /** Swap/NoSwap: the expected value; otherwise unused. */
  readonly expected: number;
  readonly call: number;
  /** Infinity when pending: it may take effect at any time after `call`, or never. */
  readonly ret: number;
  readonly pending: boolean;
}

/** Gives each distinct value of one key a small integer; absent is {@link ABSENT}. */
export class ValueIds {
  private readonly ids = new Map<string, number>();
  id(value: string | null): number {
    if (value === null) return ABSENT;
    let id = this.ids.get(value);
    if (id === undefined) {
      id = this.ids.size + 1;
      this.ids.set(value, id);
    }
    return id;
  }
}

/**
 * The register op for a validated op, or null when it constrains nothing: a timed-out get has no
 * effect and its answer is unknown, so it can always be left out.
 */
export function toRegisterOp(op: Op, values: ValueIds): RegisterOp | null {
  const pending = op.ret === null;
  const ret = op.ret === null ? Number.POSITIVE_INFINITY : op.ret;
  const base = { source: op, call: op.call, ret, pending };
  switch (op.f) {
    case 'get':
      if (pending) return null;
      return { ...base, kind: Kind.Read, value: values.id(op.output as string | null), expected: ABSENT };
    case 'put':
      return { ...base, kind: Kind.Write, value: values.id(op.input as string), expected: ABSENT };
    case 'cas': {
      const [expected, next] = op.input as [string | null, string];
      // A timed-out cas either swapped or left no trace; "left no trace" is the same as leaving it
      // out, so it is a Swap the search may skip.
      const kind = pending || op.output === true ? Kind.Swap : Kind.NoSwap;
      return { ...base, kind, value: values.id(next), expected: values.id(expected) };
    }
  }
}

/**
 * The history as seen at time `t`: calls invoked after `t` are gone, calls still in flight at `t`
 * become pending (their answer unknown). If the full history is linearizable, so is this one, since a
 * linearization cut at `t` linearizes it.
 */
export function truncateAt(ops: readonly RegisterOp[], t: number): RegisterOp[] {
  const out: RegisterOp[] = [];
  for (const op of ops) {
    if (op.call > t) continue;
    if (op.ret <= t) {
      out.push(op);
      continue;
    }
    // In flight at t: it may or may not have taken effect by then. Reads and failed cas never have
    // any effect, so they are left out; writes and swaps become optional.
    if (op.kind === Kind.Read || op.kind === Kind.NoSwap) continue;
    out.push(op.pending ? op : { ...op, ret: Number.POSITIVE_INFINITY, pending: true });
  }
  return out;
}
