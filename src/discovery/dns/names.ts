import { isIP } from 'node:net';
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
  let label = 0;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 46) {
      if (label === 0) return false;
      label = 0;
    } else if (c < 128) {
      if (++label > MAX_LABEL_OCTETS) return false;
    } else {
      return Buffer.byteLength(name) <= MAX_NAME_TEXT && name.split('.').every(validLabelBytes);
    }
  }
  return label > 0;
}

function validLabelBytes(label: string): boolean {
  const bytes = Buffer.byteLength(label);
  return bytes > 0 && bytes <= MAX_LABEL_OCTETS;
}

/** The reverse-lookup name of an address: `5.0.9.10.in-addr.arpa`, or IPv6 nibbles under `ip6.arpa`. */
export function reverseName(address: string): string | null {
  const family = isIP(address);
  if (family === 4) return `${address.split('.').reverse().join('.')}.in-addr.arpa`;
  if (family !== 6) return null;
  const nibbles: string[] = [];
  for (const byte of ipaddr.IPv6.parse(address).toByteArray()) {
    nibbles.push((byte >> 4).toString(16), (byte & 15).toString(16));
  }
  return `${nibbles.reverse().join('.')}.ip6.arpa`;
}

/** 4 for an IPv4 address (four decimal parts), 6 for IPv6, null for anything else. */
export function addressFamily(address: string): 4 | 6 | null {
  const family = isIP(address);
  return family === 4 || family === 6 ? family : null;
}
