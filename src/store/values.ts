import { InvalidArgumentError } from './errors.js';
import type { KVPair, Value } from './types.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The bytes of a value: strings as UTF-8, bytes as given (copied, so later caller edits don't leak in). */
export function toBytes(value: Value): Uint8Array {
  if (typeof value === 'string') return encoder.encode(value);
  if (value instanceof Uint8Array) return Uint8Array.from(value);
  throw new InvalidArgumentError(`value must be a Uint8Array or a string, got ${typeof value}`);
}

/** A value (or a pair's value) as UTF-8 text. */
export function text(value: Uint8Array | KVPair): string {
  return decoder.decode(value instanceof Uint8Array ? value : value.value);
}

/** A value (or a pair's value) parsed as JSON. */
export function json<T = unknown>(value: Uint8Array | KVPair): T {
  return JSON.parse(text(value)) as T;
}

/** Byte-wise equality of two values. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
