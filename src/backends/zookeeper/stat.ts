import { KVError } from '../../store/errors.js';
import type { KVPair } from '../../store/types.js';
import type { ZkStat } from './zk-client.js';

/** zxids at or above 2^53 cannot be a JS number exactly: epoch (high 32 bits) ≥ 2^21. */
const MAX_SAFE_EPOCH = 2 ** 21;

/**
 * A 64-bit zxid (epoch << 32 | counter) as a number. Exact while the epoch is below 2^21
 * (two million leader elections); beyond that kvkit refuses rather than round.
 */
export function zxidToNumber(zxid: Buffer): number {
  const epoch = zxid.readUInt32BE(0);
  if (epoch >= MAX_SAFE_EPOCH) {
    throw new KVError('INDEX_OUT_OF_RANGE', `zxid epoch ${epoch} does not fit a JavaScript number exactly`);
  }
  return epoch * 2 ** 32 + zxid.readUInt32BE(4);
}

/** The pair of a znode holding a key: lastIndex is the znode's modification zxid. */
export function pairOf(key: string, data: Buffer, stat: ZkStat): KVPair {
  return { key, value: toValue(data), lastIndex: zxidToNumber(stat.mzxid) };
}

/** A Uint8Array view of exactly the value bytes (not a pooled Buffer). */
export function toValue(data: Buffer): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** The session owning an ephemeral znode, as hex; '' for a persistent znode. */
export function ownerOf(stat: ZkStat): string {
  return isPersistent(stat) ? '' : stat.ephemeralOwner.toString('hex');
}

export function isPersistent(stat: ZkStat): boolean {
  const owner = stat.ephemeralOwner;
  return owner.readUInt32BE(0) === 0 && owner.readUInt32BE(4) === 0;
}
