import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { InvalidArgumentError } from '../../store/errors.js';

/** First byte of every packet and stream frame: how the rest is protected. */
const PLAIN = 0;
const AES_GCM = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Keys a ring holds at most (Docker's managers keep 3). */
export const MAX_KEYS = 8;

/** What AES-GCM adds to a payload: version byte, nonce and tag (memberlist: 29 bytes). */
export const SEAL_OVERHEAD_BYTES = 1 + NONCE_BYTES + TAG_BYTES;

/** Why a packet or frame could not be opened. */
export type OpenFailure = 'no-key' | 'plaintext' | 'encrypted' | 'malformed';

/**
 * The gossip keyring (memberlist keyring.go): AES-GCM with a 16- or 32-byte key, the
 * primary one sealing everything, every installed key tried on opening, so a rotation
 * (add the new key everywhere, make it primary, then remove the old one) never loses a
 * packet (moby#30590, swarmkit #1954). Without keys, traffic is plain and encrypted
 * traffic is refused, and the other way round. Keys are copied and never printed.
 */
export class Keyring {
  private keys: Buffer[] = [];

  constructor(keys?: Uint8Array[]) {
    if (keys !== undefined) this.set(keys);
  }

  get encrypted(): boolean {
    return this.keys.length > 0;
  }

  get size(): number {
    return this.keys.length;
  }

  /** Replaces the ring: primary first. */
  set(keys: Uint8Array[]): void {
    this.keys = checkKeys(keys);
  }

  seal(plain: Uint8Array): Uint8Array {
    const key = this.keys[0];
    if (!key) {
      const out = new Uint8Array(plain.byteLength + 1);
      out[0] = PLAIN;
      out.set(plain, 1);
      return out;
    }
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv(algorithm(key), key, nonce);
    cipher.setAAD(Uint8Array.of(AES_GCM));
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return Buffer.concat([Uint8Array.of(AES_GCM), nonce, body, cipher.getAuthTag()]);
  }

  /** The plaintext, or why it cannot be had. */
  open(data: Uint8Array): Uint8Array | OpenFailure {
    if (data.byteLength < 1) return 'malformed';
    if (data[0] === PLAIN) return this.encrypted ? 'plaintext' : data.subarray(1);
    if (data[0] !== AES_GCM) return 'malformed';
    if (!this.encrypted) return 'encrypted';
    if (data.byteLength < SEAL_OVERHEAD_BYTES) return 'malformed';
    const nonce = data.subarray(1, 1 + NONCE_BYTES);
    const body = data.subarray(1 + NONCE_BYTES, data.byteLength - TAG_BYTES);
    const tag = data.subarray(data.byteLength - TAG_BYTES);
    for (const key of this.keys) {
      try {
        const decipher = createDecipheriv(algorithm(key), key, nonce);
        decipher.setAAD(Uint8Array.of(AES_GCM));
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(body), decipher.final()]);
      } catch {
        // Not this key: try the next one.
      }
    }
    return 'no-key';
  }
}

function algorithm(key: Buffer): 'aes-128-gcm' | 'aes-256-gcm' {
  return key.byteLength === 16 ? 'aes-128-gcm' : 'aes-256-gcm';
}

/** Validates a keyring: 1..8 distinct keys of 16 or 32 bytes, primary first. */
export function checkKeys(keys: unknown): Buffer[] {
  if (!Array.isArray(keys) || keys.length === 0)
    throw new InvalidArgumentError('keys must be a non-empty array');
  if (keys.length > MAX_KEYS) throw new InvalidArgumentError(`at most ${MAX_KEYS} keys`);
  const out: Buffer[] = [];
  for (const [i, key] of keys.entries()) {
    if (!(key instanceof Uint8Array) || (key.byteLength !== 16 && key.byteLength !== 32)) {
      throw new InvalidArgumentError(`key ${i} must be a Uint8Array of 16 or 32 bytes`);
    }
    const copy = Buffer.from(key);
    if (out.some((k) => k.equals(copy))) throw new InvalidArgumentError(`key ${i} is given twice`);
    out.push(copy);
  }
  return out;
}

/** Describes an OpenFailure for a report (never the key). */
export function describeOpenFailure(failure: OpenFailure): string {
  switch (failure) {
    case 'no-key':
      return 'no installed key decrypts it (a member with another key?)';
    case 'plaintext':
      return 'it is not encrypted and this member requires encryption';
    case 'encrypted':
      return 'it is encrypted and this member has no keys';
    case 'malformed':
      return 'it is not a gossip packet';
  }
}
