/**
 * Lifeguard's dynamic suspicion (memberlist suspicion.go, Dadgar et al. 2017 §IV-B): a
 * suspicion starts at the long timeout and shrinks towards the short one as independent
 * members confirm it, so a member that is only slow to answer one prober has time to
 * refute, while a member many find dead is declared dead quickly.
 */
export class Suspicion {
  private readonly confirmers = new Set<string>();

  /**
   * @param expected confirmations after which the timeout reaches `minMs` (k)
   * @param startMs when the suspicion began
   */
  constructor(
    from: string,
    private readonly expected: number,
    private readonly minMs: number,
    private readonly maxMs: number,
    readonly startMs: number,
  ) {
    this.confirmers.add(from);
  }

  get confirmations(): number {
    return this.confirmers.size - 1;
  }

  /** Counts a confirmation from a member not heard before; returns whether it was new. */
  confirm(from: string): boolean {
    if (this.confirmers.size - 1 >= this.expected || this.confirmers.has(from)) return false;
    this.confirmers.add(from);
    return true;
  }

  /** When the member is declared dead, given the confirmations so far. */
  deadline(): number {
    return this.startMs + suspicionTimeoutFor(this.confirmations, this.expected, this.minMs, this.maxMs);
  }
}

/** max − (max − min) · log(n + 1) / log(k + 1), never below min (memberlist remainingSuspicionTime). */
export function suspicionTimeoutFor(n: number, k: number, minMs: number, maxMs: number): number {
  if (k < 1) return minMs;
  const frac = Math.log(n + 1) / Math.log(k + 1);
  return Math.max(minMs, Math.floor(maxMs - frac * (maxMs - minMs)));
}
