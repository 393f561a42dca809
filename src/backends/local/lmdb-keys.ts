import { createHash } from 'node:crypto';

/**
 * LMDB's key limit is 1978 bytes; kvkit keys go up to 4 KiB. A key of up to DIRECT_LIMIT
 * bytes is its own LMDB key; a longer one keeps its first HASHED_PREFIX_LIMIT bytes plus
 * `#` and its SHA-256, which always comes to more than DIRECT_LIMIT bytes (at least
 * 1847 + 65), so no short key can ever name a long key's slot (records keep the full key).
 */
const DIRECT_LIMIT = 1900;
const HASHED_PREFIX_LIMIT = 1850;
const encoder = new TextEncoder();

/**
 * The LMDB key of a kvkit key: the key itself when short, else its first bytes and a hash.
 * With `asPrefix`, the scan start for a directory prefix (a prefix of every LMDB key under it).
 */
export function lmdbKey(key: string, asPrefix = false): string {
  if (asPrefix) return truncateUtf8(key, HASHED_PREFIX_LIMIT);
  if (encoder.encode(key).length <= DIRECT_LIMIT) return key;
  return `${truncateUtf8(key, HASHED_PREFIX_LIMIT)}#${createHash('sha256').update(key).digest('hex')}`;
}

/** The longest prefix of `text` of at most `maxBytes` UTF-8 bytes, cut between code points. */
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
