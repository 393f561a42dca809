/** The seeded randomness the core takes as input (raft/core's generator). */
export interface CoreRng {
  next(): number;
  nextInt(maxExclusive: number): number;
}

/**
 * Up to `k` distinct items among `at(0..n-1)` that pass `accept`, chosen at random. Small
 * pools are filtered then partially shuffled; large ones sampled with rejection (a gossip
 * round in a 4,700-member cluster must not scan every member), falling back to a scan if
 * most are rejected.
 */
export function pickRandom(
  rng: CoreRng,
  n: number,
  at: (index: number) => number,
  k: number,
  accept: (item: number) => boolean,
): number[] {
  if (k <= 0 || n === 0) return [];
  if (n > 4 * k + 16) {
    const out: number[] = [];
    for (let attempt = 0; attempt < 8 * k && out.length < k; attempt++) {
      const item = at(rng.nextInt(n));
      if (!out.includes(item) && accept(item)) out.push(item);
    }
    if (out.length === k) return out;
  }
  const candidates: number[] = [];
  for (let i = 0; i < n; i++) {
    const item = at(i);
    if (accept(item)) candidates.push(item);
  }
  const take = Math.min(k, candidates.length);
  for (let i = 0; i < take; i++) {
    const j = i + rng.nextInt(candidates.length - i);
    [candidates[i], candidates[j]] = [candidates[j], candidates[i]];
  }
  return candidates.slice(0, take);
}

export function shuffle<T>(rng: CoreRng, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}
