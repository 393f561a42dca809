import { InvalidArgumentError } from '../store/errors.js';
import type { Store } from '../store/types.js';
import { type Claim, ClaimSpace } from './claim-space.js';
import { NoAvailablePoolError } from './errors.js';
import { describeOwner } from './ipam.js';
import type { Layout } from './layout.js';

/** VNIs are 24 bits; swarm starts at 4096 because lower IDs clash with 802.1Q VLANs on Windows. */
export const VXLAN_MAX = 2 ** 24 - 1;
export const DEFAULT_VXLAN_RANGE = { start: 4096, end: VXLAN_MAX };

/**
 * The cluster-wide VXLAN ID allocator: one claim per VNI (the offset is the VNI itself, so a
 * process configured with another range still sees every ID in use), serial with a persisted
 * cursor, owner-tagged like addresses.
 */
export class VxlanIds {
  readonly space: ClaimSpace;
  readonly range: { start: number; end: number };

  constructor(store: Store, layout: Layout, range = DEFAULT_VXLAN_RANGE) {
    if (
      !Number.isInteger(range.start) ||
      !Number.isInteger(range.end) ||
      range.start < 1 ||
      range.end > VXLAN_MAX ||
      range.start > range.end
    ) {
      throw new InvalidArgumentError(
        `invalid vxlanRange ${range.start}-${range.end}: must lie within 1-${VXLAN_MAX}`,
      );
    }
    this.range = range;
    this.space = new ClaimSpace(store, layout.vxlan, VXLAN_MAX + 1);
  }

  /**
   * Reserves `count` VNIs for `owner`: the `requested` ones as given (INVALID_ARGUMENT when one is
   * invalid or held by someone else), else serially from the cursor. All or nothing.
   */
  async reserve(owner: string, count: number, requested?: number[]): Promise<number[]> {
    if (requested) {
      for (const id of requested) {
        if (!Number.isInteger(id) || id < 1 || id > VXLAN_MAX) {
          throw new InvalidArgumentError(
            `invalid VXLAN ID ${String(id)}: must be between 1 and ${VXLAN_MAX}`,
          );
        }
      }
      if (new Set(requested).size !== requested.length) {
        throw new InvalidArgumentError(`VXLAN ID list ${requested.join(',')} repeats an ID`);
      }
    }
    const held: number[] = [];
    try {
      for (;;) {
        const snapshot = await this.space.load();
        const wanted: Claim[] = [];
        if (requested) {
          for (const id of requested.filter((r) => !held.includes(r))) {
            const holder = snapshot.ownerAt(id);
            if (holder !== undefined && holder !== owner) {
              throw new InvalidArgumentError(`VXLAN ID ${id} is already in use by ${describeOwner(holder)}`);
            }
            wanted.push({ offset: id, owner });
          }
        } else {
          let cursor = (await this.space.readCursors()).get('') as number | undefined;
          while (held.length + wanted.length < count) {
            const id = snapshot.bits.allocate({ from: this.range.start, to: this.range.end, cursor });
            if (id === null) {
              throw new NoAvailablePoolError(
                `no available VXLAN ID in range ${this.range.start}-${this.range.end}`,
              );
            }
            wanted.push({ offset: id, owner });
            cursor = (id as number) + 1;
          }
        }
        const result = await this.space.commit(snapshot, wanted);
        for (const claim of result.committed) held.push(claim.offset as number);
        if (result.failed.length > 0) throw result.failed[0].error;
        if (result.conflicted.length === 0) break;
      }
      const ordered = requested ?? held;
      if (!requested && held.length > 0) await this.space.writeCursor('', held[held.length - 1] + 1);
      return ordered;
    } catch (err) {
      if (held.length > 0) await this.release(owner, held).catch(() => undefined);
      throw err;
    }
  }

  /** Frees the VNIs still held by `owner`. */
  async release(owner: string, ids: number[]): Promise<void> {
    if (ids.length > 0) await this.space.release(ids.map((offset) => ({ offset, owner })));
  }
}
