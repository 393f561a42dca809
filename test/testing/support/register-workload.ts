/**
 * Histories of a simulated concurrent key-value register that are linearizable by construction:
 * every op gets a linearization point inside [call, ret], and its answer is computed by applying the
 * ops to a model register in the order of those points.
 */
import type { Op } from '../../../src/testing/index.js';

export interface WorkloadOptions {
  seed: number;
  ops: number;
  keys: number;
  /** Clients running at once. A client whose call times out is replaced by a fresh process id. */
  processes: number;
  /** Share of calls that time out (ret null). */
  timeoutRate?: number;
  /** Share of timed-out calls that take effect anyway; default 0.5. */
  timedOutTakeEffect?: number;
  /** Values drawn from this many distinct strings; default: every written value is unique. */
  valueSpace?: number;
}

/** mulberry32: small, fast, deterministic. */
export function prng(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Planned {
  op: Op;
  /** When it takes effect; null when it never does (a timed-out call that was lost). */
  at: number | null;
}

export function generateHistory(options: WorkloadOptions): Op[] {
  const random = prng(options.seed);
  const timeoutRate = options.timeoutRate ?? 0;
  const keys = Array.from({ length: options.keys }, (_, k) => `key-${k}`);
  const written = new Map<string, string[]>(keys.map((key) => [key, []]));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  let nextValue = 0;
  const newValue = (key: string): string =>
    options.valueSpace === undefined
      ? `${key}#${nextValue++}`
      : `v${Math.floor(random() * options.valueSpace)}`;

  // Each client: its process id and the time it is free to make its next call.
  const clients = Array.from({ length: options.processes }, (_, p) => ({ process: p, freeAt: random() }));
  let nextProcess = options.processes;
  const planned: Planned[] = [];
  for (let i = 0; i < options.ops; i++) {
    const client = clients.reduce((a, b) => (b.freeAt < a.freeAt ? b : a));
    const key = pick(keys);
    const call = client.freeAt + random() * 2;
    const at = call + 0.1 + random() * 5;
    const ret = at + 0.1 + random() * 5;
    const roll = random();
    const history = written.get(key)!;
    let op: Op;
    if (roll < 0.45) {
      op = { process: client.process, key, f: 'get', input: null, output: null, call, ret };
    } else if (roll < 0.75) {
      const value = newValue(key);
      history.push(value);
      op = { process: client.process, key, f: 'put', input: value, output: null, call, ret };
    } else {
      // Expect a recent value most of the time, so that many swaps succeed.
      const r = random();
      const expected =
        history.length === 0 || r < 0.15 ? null : r < 0.8 ? history[history.length - 1] : pick(history);
      const next = newValue(key);
      history.push(next);
      op = { process: client.process, key, f: 'cas', input: [expected, next], output: false, call, ret };
    }
    if (random() < timeoutRate) {
      op.ret = null;
      planned.push({ op, at: random() < (options.timedOutTakeEffect ?? 0.5) ? at : null });
      client.process = nextProcess++;
      client.freeAt = ret + 5;
    } else {
      planned.push({ op, at });
      client.freeAt = ret;
    }
  }

  // Run the model in linearization order to fill in the answers.
  const state = new Map<string, string | null>();
  const effective = planned.filter((p) => p.at !== null).sort((a, b) => a.at! - b.at!);
  for (const { op } of effective) {
    const current = state.get(op.key) ?? null;
    if (op.f === 'get') op.output = current;
    else if (op.f === 'put') state.set(op.key, op.input as string);
    else {
      const [expected, next] = op.input as [string | null, string];
      op.output = current === expected;
      if (op.output) state.set(op.key, next);
    }
  }
  for (const { op } of planned) if (op.ret === null) op.output = null;
  return planned.map((p) => p.op).sort((a, b) => a.call - b.call);
}
