import type { MemberStateName } from './messages.js';

export const ALIVE = 0;
export const SUSPECT = 1;
export const DEAD = 2;
export const LEFT = 3;
/** A free slot (a forgotten member). */
const FREE = 255;

export const STATE_NAMES: MemberStateName[] = ['alive', 'suspect', 'dead', 'left'];

export function stateCode(name: MemberStateName): number {
  return STATE_NAMES.indexOf(name);
}

/**
 * Every member this node knows, as columns indexed by a slot number (a cluster of 4,700
 * members simulated in one process holds 4,700² of these, so no object per member). Slots of
 * forgotten members are reused.
 */
export class MemberTable {
  names: string[] = [];
  addrs: string[] = [];
  incarnation = new Uint32Array(16);
  state = new Uint8Array(16).fill(FREE);
  /** When the state last changed (core clock, ms). */
  changedAt = new Float64Array(16);
  private readonly slots = new Map<string, number>();
  private readonly free: number[] = [];
  private used = 0;
  /** Members alive or suspect, this node included. */
  liveCount = 0;

  /** Slots in use or free: iterate 0..capacity and skip `!has(i)`. */
  get capacity(): number {
    return this.used;
  }

  get size(): number {
    return this.slots.size;
  }

  indexOf(name: string): number {
    return this.slots.get(name) ?? -1;
  }

  has(slot: number): boolean {
    return this.state[slot] !== FREE;
  }

  isLive(slot: number): boolean {
    const s = this.state[slot];
    return s === ALIVE || s === SUSPECT;
  }

  add(name: string, addr: string, incarnation: number, state: number, now: number): number {
    let slot = this.free.pop();
    if (slot === undefined) {
      slot = this.used++;
      if (slot >= this.state.length) this.grow();
    }
    this.names[slot] = name;
    this.addrs[slot] = addr;
    this.incarnation[slot] = incarnation;
    this.state[slot] = state;
    this.changedAt[slot] = now;
    this.slots.set(name, slot);
    if (state === ALIVE || state === SUSPECT) this.liveCount++;
    return slot;
  }

  setState(slot: number, state: number, now: number): void {
    const wasLive = this.isLive(slot);
    this.state[slot] = state;
    this.changedAt[slot] = now;
    const isLive = this.isLive(slot);
    if (wasLive && !isLive) this.liveCount--;
    else if (!wasLive && isLive) this.liveCount++;
  }

  remove(slot: number): void {
    if (this.isLive(slot)) this.liveCount--;
    this.slots.delete(this.names[slot]);
    this.state[slot] = FREE;
    this.names[slot] = '';
    this.addrs[slot] = '';
    this.free.push(slot);
  }

  private grow(): void {
    const size = this.state.length * 2;
    const inc = new Uint32Array(size);
    inc.set(this.incarnation);
    this.incarnation = inc;
    const state = new Uint8Array(size).fill(FREE);
    state.set(this.state);
    this.state = state;
    const changed = new Float64Array(size);
    changed.set(this.changedAt);
    this.changedAt = changed;
  }
}
