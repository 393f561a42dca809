import type { ConfChange } from '../core/index.js';

/** Where to reach a member: its peer port (Raft traffic) and its client port (raft:// clients). */
export interface MemberAddress {
  peerAddr: string;
  clientAddr: string | null;
}

/** A conf change's `context`: the address of the member being added. */
export function encodeMemberContext(address: MemberAddress): string {
  return JSON.stringify({ peerAddr: address.peerAddr, clientAddr: address.clientAddr });
}

export function decodeMemberContext(context: string | null): MemberAddress | null {
  if (context === null) return null;
  try {
    const raw = JSON.parse(context) as Partial<MemberAddress>;
    if (typeof raw.peerAddr !== 'string') return null;
    return { peerAddr: raw.peerAddr, clientAddr: typeof raw.clientAddr === 'string' ? raw.clientAddr : null };
  } catch {
    return null;
  }
}

/**
 * The replicated address book: every member's addresses as of the applied index. It
 * changes only by applying log entries (membership changes and address announcements), so
 * every node holds the same book at the same index, and it travels inside snapshots.
 */
export class MemberBook {
  private readonly byId = new Map<string, MemberAddress>();

  static fromJSON(json: Record<string, MemberAddress>): MemberBook {
    const book = new MemberBook();
    for (const [id, a] of Object.entries(json))
      book.byId.set(id, { peerAddr: a.peerAddr, clientAddr: a.clientAddr ?? null });
    return book;
  }

  toJSON(): Record<string, MemberAddress> {
    return Object.fromEntries(
      [...this.byId].sort(([a], [b]) => (a < b ? -1 : 1)).map(([id, a]) => [id, { ...a }]),
    );
  }

  get(id: string): MemberAddress | undefined {
    return this.byId.get(id);
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  ids(): string[] {
    return [...this.byId.keys()].sort();
  }

  /** Applies a committed membership change. */
  apply(change: ConfChange): void {
    if (change.type === 'removeNode') {
      this.byId.delete(change.nodeId);
      return;
    }
    const address = decodeMemberContext(change.context);
    const known = this.byId.get(change.nodeId);
    // A promotion (addVoter of a learner) carries no context: keep what we know.
    if (address)
      this.byId.set(change.nodeId, {
        peerAddr: address.peerAddr,
        clientAddr: address.clientAddr ?? known?.clientAddr ?? null,
      });
    else if (!known) this.byId.set(change.nodeId, { peerAddr: '', clientAddr: null });
  }

  /** Applies a member's announcement of its client address. */
  setClientAddr(id: string, clientAddr: string | null): void {
    const known = this.byId.get(id);
    if (known) known.clientAddr = clientAddr;
  }
}
