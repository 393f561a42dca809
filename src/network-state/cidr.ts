import ipaddr from 'ipaddr.js';
import { InvalidArgumentError } from '../store/errors.js';
import { MAX_BITS } from './bit-sequence.js';
import { minOffset, type Offset, toBig, toOffset } from './offset.js';

export type Family = 4 | 6;

/** An address as an integer of its family. */
export interface ParsedAddress {
  family: Family;
  value: bigint;
}

/**
 * Parses one address with ipaddr.js. IPv4 must be four decimal parts (ipaddr.js alone would also
 * take `10.1` or `0x0a.0.0.1`, which docker refuses); IPv6 may not carry a zone. Throws
 * INVALID_ARGUMENT naming `what` and the text.
 */
export function parseAddress(text: string, what = 'address'): ParsedAddress {
  if (typeof text !== 'string')
    throw new InvalidArgumentError(`${what} must be a string, got ${typeof text}`);
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) {
    return { family: 4, value: bytesToBig(ipaddr.IPv4.parse(text).toByteArray()) };
  }
  if (text.includes(':') && !text.includes('%') && ipaddr.IPv6.isValid(text)) {
    return { family: 6, value: bytesToBig(ipaddr.IPv6.parse(text).toByteArray()) };
  }
  throw new InvalidArgumentError(`invalid ${what}: ${JSON.stringify(text)} is not an IPv4 or IPv6 address`);
}

/** The text form of an address: dotted quad, or RFC 5952 for IPv6. */
export function formatAddress(family: Family, value: bigint): string {
  if (family === 4) return formatIPv4(Number(value));
  const parts: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) parts.push(Number((value >> shift) & 0xffffn));
  return new ipaddr.IPv6(parts).toRFC5952String();
}

function formatIPv4(v: number): string {
  return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

function bytesToBig(bytes: number[]): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

/** An IPv4 or IPv6 subnet in canonical form (`10.9.0.0/24`, `fd00:1::/64`). */
export class Subnet {
  readonly family: Family;
  readonly prefixLength: number;
  /** The network address as an integer. */
  readonly base: bigint;
  /** Number of addresses, 2^(bits - prefix). */
  readonly size: bigint;
  readonly cidr: string;
  readonly #baseNumber: number;

  constructor(family: Family, base: bigint, prefixLength: number) {
    this.family = family;
    this.prefixLength = prefixLength;
    this.base = base;
    this.size = 1n << BigInt((family === 4 ? 32 : 128) - prefixLength);
    this.cidr = `${formatAddress(family, base)}/${prefixLength}`;
    this.#baseNumber = family === 4 ? Number(base) : 0;
  }

  /**
   * Parses `a.b.c.d/len` or `v6/len`; the address must be the network address (docker refuses
   * `10.9.0.5/24`), and the message says which subnet was meant.
   */
  static parse(text: string, what = 'subnet'): Subnet {
    if (typeof text !== 'string')
      throw new InvalidArgumentError(`${what} must be a string, got ${typeof text}`);
    const slash = text.indexOf('/');
    const lengthText = text.slice(slash + 1);
    if (slash < 0 || !/^\d{1,3}$/.test(lengthText)) {
      throw new InvalidArgumentError(`invalid ${what}: ${JSON.stringify(text)} is not in CIDR notation`);
    }
    const address = parseAddress(text.slice(0, slash), what);
    const bits = address.family === 4 ? 32 : 128;
    const prefixLength = Number(lengthText);
    if (prefixLength > bits) {
      throw new InvalidArgumentError(`invalid ${what}: ${text} has a prefix longer than ${bits} bits`);
    }
    const hostBits = BigInt(bits - prefixLength);
    const base = (address.value >> hostBits) << hostBits;
    const subnet = new Subnet(address.family, base, prefixLength);
    if (base !== address.value) {
      throw new InvalidArgumentError(
        `invalid ${what}: ${text} is not a network address (did you mean ${subnet.cidr}?)`,
      );
    }
    return subnet;
  }

  get last(): bigint {
    return this.base + this.size - 1n;
  }

  containsAddress(value: bigint): boolean {
    return value >= this.base && value <= this.last;
  }

  contains(other: Subnet): boolean {
    return other.family === this.family && this.containsAddress(other.base) && other.last <= this.last;
  }

  overlaps(other: Subnet): boolean {
    return other.family === this.family && this.base <= other.last && other.base <= this.last;
  }

  /**
   * The offsets handed out: all but the network address (bit 0) and, for IPv4, the broadcast
   * address — except on /31 and /32 (and IPv6 /127, /128), which have no room to spare. A
   * pool larger than 2^64 addresses uses its first 2^64, like a /64.
   */
  usableRange(): { first: Offset; last: Offset } {
    const pointToPoint = this.prefixLength >= (this.family === 4 ? 31 : 127);
    const tracked = toBig(this.trackedSize);
    const first = pointToPoint ? 0n : 1n;
    const last = this.family === 4 && !pointToPoint ? tracked - 2n : tracked - 1n;
    return { first: toOffset(first), last: toOffset(last) };
  }

  /** Bits of the occupancy map: the pool size, capped at 2^64. */
  get trackedSize(): Offset {
    return toOffset(minOffset(this.size, MAX_BITS));
  }

  offsetOf(value: bigint): Offset {
    return toOffset(value - this.base);
  }

  /** The plain address at `offset` (`10.9.0.5`). */
  addressAt(offset: Offset): string {
    if (this.family === 4) return formatIPv4(this.#baseNumber + (offset as number));
    return formatAddress(6, this.base + toBig(offset));
  }

  /** The address at `offset` with this subnet's prefix length (`10.9.0.5/24`), as IPAM returns it. */
  addressWithPrefix(offset: Offset): string {
    return `${this.addressAt(offset)}/${this.prefixLength}`;
  }
}

/**
 * Reads an address that may carry a prefix (`10.9.0.5/24` or `10.9.0.5`) as IPAM callers pass it.
 */
export function parseAddressMaybeWithPrefix(text: string, what = 'address'): ParsedAddress {
  if (typeof text !== 'string')
    throw new InvalidArgumentError(`${what} must be a string, got ${typeof text}`);
  const slash = text.indexOf('/');
  return parseAddress(slash < 0 ? text : text.slice(0, slash), what);
}
