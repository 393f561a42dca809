import { randomFillSync } from 'node:crypto';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';
// One syscall per 4 KiB of randomness instead of one per id: a 60,000-task service needs 60,000 ids.
const pool = new Uint8Array(4096);
let used = pool.length;

/**
 * A random id of 25 base-36 characters, as swarmkit's (~129 bits): never reused, which is what lets
 * reconciliation treat a claim whose owner id is gone as garbage.
 */
export function newId(length = 25): string {
  let id = '';
  while (id.length < length) {
    if (used === pool.length) {
      randomFillSync(pool);
      used = 0;
    }
    const byte = pool[used++];
    // 252 = 7 × 36: dropping the rest keeps every character equally likely.
    if (byte < 252) id += ALPHABET[byte % 36];
  }
  return id;
}
