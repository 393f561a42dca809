/**
 * Who is on one network, cluster-wide (NetworkDB's node → network attachments): per member
 * slot the Lamport time of its latest join or leave, and a dense list of the members on it
 * (this node excluded) for picking gossip and sync peers.
 */
export class NetworkRoster {
  /** ltime · 2 + (leaving ? 1 : 0); 0 = nothing known. */
  private marks = new Float64Array(16);
  /** Position of a slot in `peers`, or -1. */
  private pos = new Int32Array(16).fill(-1);
  readonly peers: number[] = [];

  constructor(readonly network: string) {}

  /** The known attachment of a member slot, or null. */
  get(slot: number): { ltime: number; leaving: boolean } | null {
    const mark = slot < this.marks.length ? this.marks[slot] : 0;
    if (mark === 0) return null;
    return { ltime: Math.floor(mark / 2), leaving: mark % 2 === 1 };
  }

  isOn(slot: number): boolean {
    return slot < this.pos.length && this.pos[slot] >= 0;
  }

  /** Records an attachment; `peer` false keeps the slot out of `peers` (this node itself). */
  set(slot: number, ltime: number, leaving: boolean, peer = true): void {
    this.ensure(slot);
    this.marks[slot] = ltime * 2 + (leaving ? 1 : 0);
    if (!leaving && peer) this.addPeer(slot);
    else this.removePeer(slot);
  }

  /** Forgets a slot entirely (the member was forgotten and its slot may be reused). */
  clear(slot: number): void {
    if (slot >= this.marks.length) return;
    this.marks[slot] = 0;
    this.removePeer(slot);
  }

  /** Every slot with a known attachment. */
  *slots(): Iterable<number> {
    for (let slot = 0; slot < this.marks.length; slot++) if (this.marks[slot] !== 0) yield slot;
  }

  get empty(): boolean {
    for (const mark of this.marks) if (mark !== 0) return false;
    return true;
  }

  private addPeer(slot: number): void {
    if (this.pos[slot] >= 0) return;
    this.pos[slot] = this.peers.length;
    this.peers.push(slot);
  }

  private removePeer(slot: number): void {
    const p = this.pos[slot];
    if (p < 0) return;
    const last = this.peers.pop() as number;
    if (last !== slot) {
      this.peers[p] = last;
      this.pos[last] = p;
    }
    this.pos[slot] = -1;
  }

  private ensure(slot: number): void {
    if (slot < this.marks.length) return;
    let size = this.marks.length * 2;
    while (size <= slot) size *= 2;
    const marks = new Float64Array(size);
    marks.set(this.marks);
    this.marks = marks;
    const pos = new Int32Array(size).fill(-1);
    pos.set(this.pos);
    this.pos = pos;
  }
}
