import { InvalidKeyError } from './errors.js';

/** Longest key accepted, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 4096;

const encoder = new TextEncoder();
/** In a /u regex a surrogate pair is one code point, so this matches only a lone surrogate. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * Validates a key and returns it normalised: a leading `/` is ignored; a trailing `/` is kept,
 * so `a/b/` is a key of its own. Throws INVALID_KEY before any I/O.
 */
export function normalizeKey(key: string): string {
  if (typeof key !== 'string') throw new InvalidKeyError(`key must be a string, got ${typeof key}`);
  const normalized = key.startsWith('/') ? key.slice(1) : key;
  if (normalized.length === 0) throw new InvalidKeyError(`key is empty: ${JSON.stringify(key)}`);
  checkKeyText(normalized, key);
  return normalized;
}

/**
 * Validates a directory prefix and returns it as `dir/` (or '' for everything): `p` and `p/`
 * both mean the keys under `p/`, so `list('app')` never returns `apple/x`.
 */
export function normalizePrefix(prefix: string): string {
  if (typeof prefix !== 'string') throw new InvalidKeyError(`prefix must be a string, got ${typeof prefix}`);
  let dir = prefix;
  while (dir.startsWith('/')) dir = dir.slice(1);
  if (dir.length === 0) return '';
  checkKeyText(dir, prefix);
  return dir.endsWith('/') ? dir : `${dir}/`;
}

/** True when `key` lies under the normalised directory prefix `dir` ('' holds everything). */
export function isUnder(key: string, dir: string): boolean {
  return dir === '' || key.startsWith(dir);
}

function checkKeyText(text: string, original: string): void {
  if (text.includes('\0')) throw new InvalidKeyError(`key contains a NUL byte: ${JSON.stringify(original)}`);
  // A lone surrogate has no UTF-8 form: every backend would store U+FFFD instead (a different key).
  if (LONE_SURROGATE.test(text)) {
    throw new InvalidKeyError(`key is not well-formed UTF-16 (lone surrogate): ${JSON.stringify(original)}`);
  }
  // A UTF-16 unit is at most 3 UTF-8 bytes: short keys need no encoding to be measured.
  if (
    text.length * 3 > MAX_KEY_BYTES &&
    (text.length > MAX_KEY_BYTES || encoder.encode(text).length > MAX_KEY_BYTES)
  ) {
    throw new InvalidKeyError(`key is longer than ${MAX_KEY_BYTES} bytes (${text.slice(0, 40)}...)`);
  }
}
