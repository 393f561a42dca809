/**
 * Test-only network faults on one node's transport: messages to or from a blocked peer are
 * dropped silently, as a partition would. Blocking every peer on both sides of a cut on one
 * side's nodes is enough: this node drops in both directions.
 */
export class FaultHook {
  private readonly blocked = new Set<string>();
  private all = false;

  /** Drops all traffic with these peers. */
  block(...peers: string[]): void {
    for (const peer of peers) this.blocked.add(peer);
  }

  unblock(...peers: string[]): void {
    for (const peer of peers) this.blocked.delete(peer);
  }

  /** Cuts this node off from every peer. */
  isolate(): void {
    this.all = true;
  }

  /** Removes every fault. */
  heal(): void {
    this.all = false;
    this.blocked.clear();
  }

  allows(peer: string): boolean {
    return !this.all && !this.blocked.has(peer);
  }

  describe(): string {
    if (this.all) return 'isolated';
    return this.blocked.size === 0 ? 'healthy' : `blocking ${[...this.blocked].sort().join(',')}`;
  }
}
