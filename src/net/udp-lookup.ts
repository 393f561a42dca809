import { type LookupOneOptions, lookup } from 'node:dns';
import { isIP } from 'node:net';

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;

/**
 * A `dgram` socket's address lookup that uses an IP literal as is, synchronously, and looks up
 * anything else. Node's default defers every send by a tick, even to a literal: it costs
 * throughput (12 % of a DNS server's queries/s), and a datagram sent just before `close()` is
 * dropped without a word when the close runs first (a gossip member's leave message was).
 */
export function literalFirstLookup(
  address: string,
  options: LookupOneOptions | number,
  callback: LookupCallback,
): void {
  const literal = isIP(address);
  if (literal !== 0) {
    callback(null, address, literal);
    return;
  }
  // dgram passes the socket's family as a number; the typings say options.
  lookup(address, typeof options === 'number' ? { family: options } : options, callback);
}
