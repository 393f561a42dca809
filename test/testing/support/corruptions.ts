/**
 * Single changes that make a linearizable history certainly non-linearizable, given that every
 * written value is unique (generateHistory without valueSpace). Each returns the op it changed, or
 * null when the history offers no place for it.
 */
import type { Op } from '../../../src/testing/index.js';

const isCompletedGet = (op: Op): boolean => op.f === 'get' && op.ret !== null;
const isCompletedWrite = (op: Op): boolean =>
  op.ret !== null && (op.f === 'put' || (op.f === 'cas' && op.output === true));
const written = (op: Op): string =>
  op.f === 'put' ? (op.input as string) : (op.input as [string | null, string])[1];
const before = (a: Op, b: Op): boolean => a.ret !== null && a.ret < b.call;

/** A read returns a value that a later completed write had certainly overwritten. */
export function staleRead(history: Op[]): Op | null {
  for (const reader of history.filter(isCompletedGet).reverse()) {
    const writes = history.filter((w) => w.key === reader.key && isCompletedWrite(w) && before(w, reader));
    const overwritten = writes.find((old) => writes.some((newer) => before(old, newer)));
    if (overwritten !== undefined) {
      reader.output = written(overwritten);
      return reader;
    }
  }
  return null;
}

/** A read returns absent although a write had completed before it began. */
export function lostWrite(history: Op[]): Op | null {
  for (const reader of history.filter(isCompletedGet).reverse()) {
    if (history.some((w) => w.key === reader.key && isCompletedWrite(w) && before(w, reader))) {
      reader.output = null;
      return reader;
    }
  }
  return null;
}

/** A read returns a value nobody wrote. */
export function phantomRead(history: Op[]): Op | null {
  const reader = history.filter(isCompletedGet).at(-1);
  if (reader === undefined) return null;
  reader.output = 'never-written';
  return reader;
}

/** A read returns the value of a write invoked only after the read had answered. */
export function futureRead(history: Op[]): Op | null {
  for (const reader of history.filter(isCompletedGet)) {
    const future = history.find((w) => w.key === reader.key && w.f === 'put' && before(reader, w));
    if (future !== undefined) {
      reader.output = written(future);
      return reader;
    }
  }
  return null;
}

/** A cas whose written value was read later is reported as having failed. */
export function flippedSwap(history: Op[]): Op | null {
  for (const swap of history.filter((op) => op.f === 'cas' && op.ret !== null && op.output === true)) {
    if (history.some((r) => r.key === swap.key && isCompletedGet(r) && r.output === written(swap))) {
      swap.output = false;
      return swap;
    }
  }
  return null;
}

export const corruptions = { staleRead, lostWrite, phantomRead, futureRead, flippedSwap };
