/**
 * Wing & Gong's search for a linearization of one register's history, with Lowe's memoisation
 * (as in porcupine): a depth-first search over "which op takes effect next", where the candidates are
 * the ops invoked before the earliest answer not yet linearized.
 *
 * Completed ops live in a doubly linked list of call and return entries sorted by time; linearizing
 * an op unlinks both of its entries, backtracking relinks them (dancing links), so the candidates are
 * always the call entries in front of the first return entry. Pending ops (no answer) have no return
 * entry: they sit in their own list, are tried after the completed candidates, and need never be
 * linearized. The search succeeds once every completed op is linearized.
 *
 * Three reductions keep pending ops (timeouts) from multiplying the search; none loses a
 * linearization:
 *  - Values no op reads or expects are all the same value ("junk"): no op can tell them apart.
 *  - Pending ops with the same effect (same kind, expected and written value) are interchangeable:
 *    once invoked, one can stand in for another, so they are applied in call order only.
 *  - An applied pending op must be observed by the op right after it (a read of its value, a cas
 *    expecting its value, or a failed cas that the state before it would have let succeed). Any
 *    linearization can be brought to that form: a pending op followed by a write is overwritten
 *    unseen and can be left out; one followed by an op that does not care can be moved after that
 *    op; one at the end can be left out.
 */
import { type CompletedSet, ConfigCache } from './config-cache.js';
import { ABSENT, Kind, type RegisterOp } from './register-ops.js';

export type Verdict = 'linearizable' | 'not-linearizable' | 'gave-up';

export interface SearchLimits {
  /** Give up once performance.now() passes this. */
  deadline: number;
  /** Give up after trying this many transitions. */
  maxSteps: number;
}

export interface SearchOutcome {
  verdict: Verdict;
  /** Transitions tried (one model step each). */
  steps: number;
}

/** Ops as parallel arrays, for a tight search loop. */
interface OpTable {
  kind: Uint8Array;
  value: Int32Array;
  expected: Int32Array;
  call: Float64Array;
  ret: Float64Array;
}

function opTable(ops: readonly RegisterOp[], writtenValue: (op: RegisterOp) => number): OpTable {
  return {
    kind: Uint8Array.from(ops, (op) => op.kind),
    value: Int32Array.from(ops, writtenValue),
    expected: Int32Array.from(ops, (op) => op.expected),
    call: Float64Array.from(ops, (op) => op.call),
    ret: Float64Array.from(ops, (op) => op.ret),
  };
}

/**
 * The written value of each op with every value no op looks at replaced by one "junk" id, and the
 * number of value ids in use (junk is the last).
 */
function junkAbstraction(ops: readonly RegisterOp[]): {
  writtenValue: (op: RegisterOp) => number;
  ids: number;
} {
  const observed = new Set<number>();
  let maxId = ABSENT;
  for (const op of ops) {
    if (op.kind === Kind.Read) observed.add(op.value);
    if (op.kind === Kind.Swap || op.kind === Kind.NoSwap) observed.add(op.expected);
    maxId = Math.max(maxId, op.value, op.expected);
  }
  const junk = maxId + 1;
  const writtenValue = (op: RegisterOp): number =>
    op.kind === Kind.Read || observed.has(op.value) ? op.value : junk;
  return { writtenValue, ids: junk + 1 };
}

/** The value an op looks at (reads, or expects), or -1 for a put. */
function looksAt(table: OpTable, i: number): number {
  switch (table.kind[i]) {
    case Kind.Read:
      return table.value[i];
    case Kind.Write:
      return -1;
    default:
      return table.expected[i];
  }
}

/** The state after an op runs in `state`, or -1 when it cannot run there. */
function apply(table: OpTable, i: number, state: number): number {
  switch (table.kind[i]) {
    case Kind.Read:
      return state === table.value[i] ? state : -1;
    case Kind.Write:
      return table.value[i];
    case Kind.Swap:
      return state === table.expected[i] ? table.value[i] : -1;
    default:
      return state !== table.expected[i] ? state : -1;
  }
}

/**
 * Whether an op may run right after a pending op that changed the state from `before` (or anywhere,
 * when `before` is -1). Reads and swaps that run at all see the new state; a failed cas observes it
 * only if it would have succeeded before it; a write would hide it.
 */
function observes(table: OpTable, i: number, before: number): boolean {
  if (before === -1) return true;
  switch (table.kind[i]) {
    case Kind.Write:
      return false;
    case Kind.NoSwap:
      return table.expected[i] === before;
    default:
      return true;
  }
}

/** Deterministic 32-bit generator for the Zobrist keys (mulberry32). */
function zobristKeys(count: number, seed: number): Int32Array {
  const keys = new Int32Array(count);
  let a = seed | 0;
  for (let i = 0; i < count; i++) {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    keys[i] = t ^ (t >>> 14);
  }
  return keys;
}

/** A 53-bit cache key from the two Zobrist hashes of the completed set and the state. */
function cacheKey(h1: number, h2: number, state: number): number {
  const hi = (h1 ^ Math.imul(state + 1, 0x9e3779b1)) >>> 0;
  const lo = (h2 ^ Math.imul(state + 1, 0x85ebca6b)) & 0x1fffff;
  return hi * 0x200000 + lo;
}

/**
 * For each pending op, its position among the pending ops with the same effect, and its class: an
 * op may be applied only when every earlier member of its class has been.
 */
function effectClasses(
  table: OpTable,
  count: number,
): { classOf: Int32Array; rank: Int32Array; classes: number } {
  const ids = new Map<string, number>();
  const sizes: number[] = [];
  const classOf = new Int32Array(count);
  const rank = new Int32Array(count);
  for (let j = 0; j < count; j++) {
    const key = `${table.kind[j]}:${table.expected[j]}:${table.value[j]}`;
    let c = ids.get(key);
    if (c === undefined) {
      c = sizes.length;
      ids.set(key, c);
      sizes.push(0);
    }
    classOf[j] = c;
    rank[j] = sizes[c]++;
  }
  return { classOf, rank, classes: sizes.length };
}

const TIME_CHECK_MASK = 0x3ff;
const FULL = 0xffffffff;

export function searchRegister(ops: readonly RegisterOp[], limits: SearchLimits): SearchOutcome {
  const byCall = (a: RegisterOp, b: RegisterOp): number => a.call - b.call;
  const completedOps = ops.filter((op) => !op.pending).sort(byCall);
  const pendingOps = ops.filter((op) => op.pending).sort(byCall);
  const n = completedOps.length;
  const p = pendingOps.length;
  if (n === 0) return { verdict: 'linearizable', steps: 0 };
  const { writtenValue, ids } = junkAbstraction(ops);
  const junk = ids - 1;
  const done = opTable(completedOps, writtenValue);
  const open = opTable(pendingOps, writtenValue);
  const { classOf, rank, classes } = effectClasses(open, p);
  const appliedOfClass = new Int32Array(classes);

  // How many ops not yet linearized (completed ones, and pending swaps) look at each value. A value
  // nobody will look at again is "dead": no later op can tell it from junk, so the memo files every
  // dead state under junk, and pending puts of dead values are interchangeable.
  const lookers = new Int32Array(ids);
  for (let i = 0; i < n; i++) if (looksAt(done, i) >= 0) lookers[looksAt(done, i)]++;
  for (let j = 0; j < p; j++) if (open.kind[j] === Kind.Swap) lookers[open.expected[j]]++;
  const canonical = (value: number): number => (value >= 0 && lookers[value] === 0 ? junk : value);

  // Entry 2i is op i's call, 2i+1 its return; calls sort before returns at equal times, so ops that
  // touch at one instant count as concurrent.
  const entryTime = (e: number): number => (e & 1 ? done.ret[e >> 1] : done.call[e >> 1]);
  const order = Array.from({ length: 2 * n }, (_, e) => e).sort(
    (a, b) => entryTime(a) - entryTime(b) || (a & 1) - (b & 1) || a - b,
  );
  const head = 2 * n;
  const next = new Int32Array(2 * n + 1);
  const prev = new Int32Array(2 * n + 1);
  let last = head;
  for (const e of order) {
    next[last] = e;
    prev[e] = last;
    last = e;
  }
  next[last] = head;
  prev[head] = last;

  // Pending ops in call order, circular with sentinel p.
  const pendingHead = p;
  const pendingNext = new Int32Array(p + 1);
  const pendingPrev = new Int32Array(p + 1);
  for (let j = 0; j <= p; j++) {
    pendingNext[j] = (j + 1) % (p + 1);
    pendingPrev[j] = (j + p) % (p + 1);
  }

  const z1 = zobristKeys(n, 0x1234567);
  const z2 = zobristKeys(n, 0x7654321);
  const linearized: CompletedSet = { words: new Uint32Array((n + 31) >>> 5), lo: 0, hi: -1 };
  const words = linearized.words;
  const pendingBits = new Uint32Array((p + 31) >>> 5);
  const cache = new ConfigCache(pendingBits.length);
  let h1 = 0;
  let h2 = 0;
  let state = ABSENT;
  cache.visit(cacheKey(h1, h2, canonical(state)), linearized, pendingBits, canonical(state), -1);

  const markLinearized = (i: number): void => {
    const seen = looksAt(done, i);
    if (seen >= 0) lookers[seen]--;
    const w = i >>> 5;
    words[w] |= 1 << (i & 31);
    h1 ^= z1[i];
    h2 ^= z2[i];
    if (w > linearized.hi) linearized.hi = w;
    while (linearized.lo < words.length && words[linearized.lo] === FULL) linearized.lo++;
  };
  const unmarkLinearized = (i: number): void => {
    const seen = looksAt(done, i);
    if (seen >= 0) lookers[seen]++;
    const w = i >>> 5;
    words[w] &= ~(1 << (i & 31));
    h1 ^= z1[i];
    h2 ^= z2[i];
    if (w < linearized.lo) linearized.lo = w;
    while (linearized.hi >= 0 && words[linearized.hi] === 0) linearized.hi--;
  };

  // The path: op linearized at each depth (completed i, or n + j for pending j), the state before it,
  // and for pending ops the time of the first unanswered return when it was chosen.
  const pathOp = new Int32Array(n + p);
  const pathState = new Int32Array(n + p);
  const pathHorizon = new Float64Array(n + p);
  const pathDeadPutSeen = new Uint8Array(n + p);
  let depth = 0;
  let remaining = n;
  let steps = 0;

  let cursor = next[head];
  let inPending = false;
  let pendingCursor = pendingHead;
  let horizon = 0;
  // Whether this scan of the pending list has passed a put of a dead value: only the first such put
  // (the earliest invoked) is tried, since any other would do the same.
  let deadPutSeen = false;

  // The state before the pending op just applied, or -1 when the last op applied was not pending.
  const restrictedBy = (): number => (depth > 0 && pathOp[depth - 1] >= n ? pathState[depth - 1] : -1);
  const overLimits = (): boolean =>
    steps >= limits.maxSteps || ((steps & TIME_CHECK_MASK) === 0 && performance.now() > limits.deadline);

  for (;;) {
    if (!inPending) {
      if ((cursor & 1) === 0) {
        const i = cursor >> 1;
        steps++;
        if (overLimits()) return { verdict: 'gave-up', steps };
        const after = observes(done, i, restrictedBy()) ? apply(done, i, state) : -1;
        if (after >= 0) {
          markLinearized(i);
          const key = canonical(after);
          if (!cache.visit(cacheKey(h1, h2, key), linearized, pendingBits, key, -1)) {
            pathOp[depth] = i;
            pathState[depth] = state;
            depth++;
            const c = 2 * i;
            const r = c + 1;
            next[prev[c]] = next[c];
            prev[next[c]] = prev[c];
            next[prev[r]] = next[r];
            prev[next[r]] = prev[r];
            state = after;
            if (--remaining === 0) return { verdict: 'linearizable', steps };
            cursor = next[head];
            continue;
          }
          unmarkLinearized(i);
        }
        cursor = next[cursor];
        continue;
      }
      // The earliest unanswered return: nothing invoked after it may go before its op.
      horizon = done.ret[cursor >> 1];
      inPending = true;
      pendingCursor = pendingNext[pendingHead];
      deadPutSeen = false;
      continue;
    }

    if (pendingCursor !== pendingHead && open.call[pendingCursor] <= horizon) {
      const j = pendingCursor;
      pendingCursor = pendingNext[j];
      if (rank[j] !== appliedOfClass[classOf[j]]) continue;
      const isPut = open.kind[j] === Kind.Write;
      if (isPut && lookers[open.value[j]] === 0) {
        if (deadPutSeen) continue;
        deadPutSeen = true;
      }
      steps++;
      if (overLimits()) return { verdict: 'gave-up', steps };
      const before = restrictedBy();
      const after = observes(open, j, before) ? apply(open, j, state) : -1;
      if (after < 0 || after === state) continue;
      pendingBits[j >>> 5] |= 1 << (j & 31);
      if (!isPut) lookers[open.expected[j]]--;
      const key = canonical(after);
      if (cache.visit(cacheKey(h1, h2, key), linearized, pendingBits, key, canonical(state))) {
        pendingBits[j >>> 5] &= ~(1 << (j & 31));
        if (!isPut) lookers[open.expected[j]]++;
        continue;
      }
      pathOp[depth] = n + j;
      pathState[depth] = state;
      pathHorizon[depth] = horizon;
      pathDeadPutSeen[depth] = deadPutSeen ? 1 : 0;
      depth++;
      appliedOfClass[classOf[j]]++;
      pendingNext[pendingPrev[j]] = pendingNext[j];
      pendingPrev[pendingNext[j]] = pendingPrev[j];
      state = after;
      inPending = false;
      cursor = next[head];
      continue;
    }

    // Every candidate failed here: undo the last choice and try the one after it.
    if (depth === 0) return { verdict: 'not-linearizable', steps };
    depth--;
    const chosen = pathOp[depth];
    state = pathState[depth];
    if (chosen < n) {
      const i = chosen;
      unmarkLinearized(i);
      const c = 2 * i;
      const r = c + 1;
      next[prev[r]] = r;
      prev[next[r]] = r;
      next[prev[c]] = c;
      prev[next[c]] = c;
      remaining++;
      cursor = next[c];
      inPending = false;
    } else {
      const j = chosen - n;
      pendingBits[j >>> 5] &= ~(1 << (j & 31));
      if (open.kind[j] === Kind.Swap) lookers[open.expected[j]]++;
      appliedOfClass[classOf[j]]--;
      pendingNext[pendingPrev[j]] = j;
      pendingPrev[pendingNext[j]] = j;
      pendingCursor = pendingNext[j];
      horizon = pathHorizon[depth];
      deadPutSeen = pathDeadPutSeen[depth] === 1;
      inPending = true;
    }
  }
}
