import { performance } from 'node:perf_hooks';
import { expect } from 'vitest';
import { isKVError } from '../../src/store/errors.js';
import type { KVPair, Store } from '../../src/store/types.js';
import { checkLinearizability, type Op } from '../../src/testing/index.js';

const text = (v: Uint8Array) => new TextDecoder().decode(v);

export interface WorkloadStats {
  ops: number;
  ok: number;
  /** Writes whose outcome is unknown (timeout, connection lost): recorded as never returning. */
  indeterminate: number;
  /** Reads that failed (dropped from the history: a read has no effect). */
  failedReads: number;
  /** Acknowledged appends to the ack log (each must survive). */
  acked: string[];
}

/**
 * Concurrent clients doing get/put/cas on a few registers and recording a history for
 * `checkLinearizability`. Every written value is unique, so the store's index-based CAS and
 * the checker's value-based CAS agree. Each client also appends unique keys to an "ack
 * log": every acknowledged one must still be there at the end (no acknowledged write lost).
 */
export class RegisterWorkload {
  readonly history: Op[] = [];
  readonly stats: WorkloadStats = { ops: 0, ok: 0, indeterminate: 0, failedReads: 0, acked: [] };
  private running = true;
  private readonly loops: Promise<void>[];

  constructor(
    stores: Store[],
    readonly keys: string[],
    readonly ackPrefix: string,
    private readonly pauseMs = 5,
  ) {
    this.loops = stores.map((store, process) => this.loop(store, process));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async loop(store: Store, process: number): Promise<void> {
    let seq = 0;
    let rng = (process + 1) * 7919;
    const rand = (n: number) => {
      rng = (rng * 1103515245 + 12345) & 0x7fffffff;
      return rng % n;
    };
    while (this.running) {
      const key = this.keys[rand(this.keys.length)];
      const value = `p${process}-${++seq}`;
      const roll = rand(10);
      if (roll < 4) await this.get(store, process, key);
      else if (roll < 7) await this.put(store, process, key, value);
      else await this.cas(store, process, key, value);
      if (rand(4) === 0) await this.ack(store, `${this.ackPrefix}/p${process}-${seq}`);
      if (this.pauseMs > 0) await new Promise((r) => setTimeout(r, this.pauseMs));
    }
  }

  private async get(store: Store, process: number, key: string): Promise<KVPair | null | undefined> {
    const call = performance.now();
    this.stats.ops++;
    try {
      const pair = await store.get(key).catch((err) => {
        if (isKVError(err, 'KEY_NOT_FOUND')) return null;
        throw err;
      });
      this.history.push({
        process,
        key,
        f: 'get',
        input: null,
        output: pair ? text(pair.value) : null,
        call,
        ret: performance.now(),
      });
      this.stats.ok++;
      return pair;
    } catch {
      this.stats.failedReads++;
      return undefined;
    }
  }

  private async put(store: Store, process: number, key: string, value: string): Promise<void> {
    const call = performance.now();
    this.stats.ops++;
    try {
      await store.put(key, value);
      this.history.push({ process, key, f: 'put', input: value, output: null, call, ret: performance.now() });
      this.stats.ok++;
    } catch {
      this.history.push({ process, key, f: 'put', input: value, output: null, call, ret: null });
      this.stats.indeterminate++;
    }
  }

  /** A read, then an atomicPut conditioned on what was read (the CAS the checker models). */
  private async cas(store: Store, process: number, key: string, value: string): Promise<void> {
    const previous = await this.get(store, process, key);
    if (previous === undefined) return;
    const expected = previous ? text(previous.value) : null;
    const call = performance.now();
    this.stats.ops++;
    let output: boolean;
    try {
      await store.atomicPut(key, value, previous);
      output = true;
    } catch (err) {
      if (isKVError(err, 'KEY_MODIFIED') || isKVError(err, 'KEY_EXISTS') || isKVError(err, 'KEY_NOT_FOUND')) {
        output = false;
      } else {
        this.history.push({
          process,
          key,
          f: 'cas',
          input: [expected, value],
          output: false,
          call,
          ret: null,
        });
        this.stats.indeterminate++;
        return;
      }
    }
    this.history.push({
      process,
      key,
      f: 'cas',
      input: [expected, value],
      output,
      call,
      ret: performance.now(),
    });
    this.stats.ok++;
  }

  private async ack(store: Store, key: string): Promise<void> {
    try {
      await store.put(key, 'x');
      this.stats.acked.push(key);
    } catch {
      // not acknowledged: it may or may not exist, either is fine
    }
  }
}

/**
 * Expects `history` to have a linearization, and the check to be able to fail: the same
 * history with one read changed to a value nobody wrote is refused (a checker that timed out
 * gives neither verdict, so that fails too). Returns how long the first check took (ms).
 */
export function expectLinearizable(history: Op[], report: (line: string) => void): number {
  const started = performance.now();
  const verdict = checkLinearizability(history, { timeoutMs: 120_000 });
  const checkMs = Math.round(performance.now() - started);
  if (!verdict.ok) report(`NOT LINEARIZABLE: ${JSON.stringify(verdict).slice(0, 4000)}`);
  expect(verdict).toEqual({ ok: true });
  const tampered = history.map((op) => ({ ...op }));
  const read = tampered.find((op) => op.f === 'get' && op.output !== null && op.ret !== null);
  if (read) read.output = 'never-written';
  expect(checkLinearizability(tampered, { timeoutMs: 60_000 }).ok).toBe(false);
  return checkMs;
}
