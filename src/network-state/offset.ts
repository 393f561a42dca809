/**
 * A position in a bit sequence or an address pool. Sequences reach 2^64 bits (an IPv6 /64), more
 * than a double holds exactly, so a position is a `number` while it is a safe integer and a
 * `bigint` above that. Keeping small values as numbers keeps the IPv4 hot path free of bigints;
 * the form is canonical, so `===` compares two offsets correctly and `<` works across both kinds.
 */
export type Offset = number | bigint;

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const MAX_SAFE_BIG = BigInt(MAX_SAFE);

/** The canonical form of a non-negative integer. */
export function toOffset(value: number | bigint): Offset {
  if (typeof value === 'number') return value;
  return value <= MAX_SAFE_BIG && value >= -MAX_SAFE_BIG ? Number(value) : value;
}

export function toBig(value: Offset): bigint {
  return typeof value === 'bigint' ? value : BigInt(value);
}

export function addOffset(a: Offset, b: Offset): Offset {
  if (typeof a === 'number' && typeof b === 'number') {
    const sum = a + b;
    if (sum <= MAX_SAFE) return sum;
  }
  return toOffset(toBig(a) + toBig(b));
}

export function subOffset(a: Offset, b: Offset): Offset {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return toOffset(toBig(a) - toBig(b));
}

export function nextOffset(a: Offset): Offset {
  return typeof a === 'number' && a < MAX_SAFE ? a + 1 : toOffset(toBig(a) + 1n);
}

export function prevOffset(a: Offset): Offset {
  return typeof a === 'number' ? a - 1 : toOffset(a - 1n);
}

export function minOffset(a: Offset, b: Offset): Offset {
  return a <= b ? a : b;
}

export function maxOffset(a: Offset, b: Offset): Offset {
  return a >= b ? a : b;
}

/** Parses the decimal form written by `String(offset)`; null when malformed. */
export function parseOffset(text: string): Offset | null {
  if (!/^\d{1,20}$/.test(text)) return null;
  return toOffset(BigInt(text));
}
