import { createHash } from 'node:crypto';

/** LMDB's key limit is 1978 bytes; longer kvkit keys (up to 4 KiB) keep a prefix plus a hash. */
const DIRECT_LIMIT = 1900;
const PREFIX_LIMIT = 1800;
const encoder = new TextEncoder();

/**
 * The LMDB key of a kvkit key: the key itself when short, else its first bytes and a hash
 * (records keep the full key). With `asPrefix`, the scan start for a directory prefix.
 */
export function lmdbKey(key: string, asPrefix = false): string {
  if (asPrefix) return truncateUtf8(key, PREFIX_LIMIT);
  if (encoder.encode(key).length <= DIRECT_LIMIT) return key;
  return `${truncateUtf8(key, PREFIX_LIMIT)}#${createHash('sha256').update(key).digest('hex')}`;
}

function truncateUtf8(text: string, maxBytes: number): string {
  let bytes = 0;
  let end = 0;
  for (const char of text) {
    const size = encoder.encode(char).length;
    if (bytes + size > maxBytes) break;
    bytes += size;
    end += char.length;
  }
  return text.slice(0, end);
}
