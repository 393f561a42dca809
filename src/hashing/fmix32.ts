/**
 * murmur3's 32-bit finaliser: spreads every input bit over the whole word, so a cheap hash
 * (FNV-1a here) can be split into table shards and digest buckets by any of its bits.
 */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
