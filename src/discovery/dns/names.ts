import ipaddr from 'ipaddr.js';

/** RFC 1035 §2.3.4: a label is at most 63 octets, a name at most 255 on the wire (253 as text). */
export const MAX_LABEL_OCTETS = 63;
export const MAX_NAME_TEXT = 253;

/** A name as the tables key it: lower case (moby#21169, consul#189), no trailing dot. */
export function canonicalName(name: string): string {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  return trimmed.toLowerCase();
}

/** True when `name` (text, no trailing dot) fits DNS: labels of 1–63 octets, 253 characters at most. */
export function isValidName(name: string): boolean {
  if (name.length === 0 || name.length > MAX_NAME_TEXT) return false;
  for (const label of name.split('.')) {
    if (label.length === 0 || Buffer.byteLength(label) > MAX_LABEL_OCTETS) return false;
  }
  return true;
}

/** The reverse-lookup name of an address: `5.0.9.10.in-addr.arpa`, or IPv6 nibbles under `ip6.arpa`. */
export function reverseName(address: string): string | null {
  if (!ipaddr.isValid(address)) return null;
  const bytes = ipaddr.parse(address).toByteArray();
  if (bytes.length === 4) return `${bytes.reverse().join('.')}.in-addr.arpa`;
  const nibbles: string[] = [];
  for (const byte of bytes) nibbles.push((byte >> 4).toString(16), (byte & 15).toString(16));
  return `${nibbles.reverse().join('.')}.ip6.arpa`;
}

/** 4 for an IPv4 address, 6 for IPv6, null for anything else. */
export function addressFamily(address: string): 4 | 6 | null {
  if (ipaddr.IPv4.isValidFourPartDecimal(address)) return 4;
  if (address.includes(':') && ipaddr.IPv6.isValid(address)) return 6;
  return null;
}
