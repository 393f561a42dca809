import { InvalidArgumentError, ValueTooLargeError } from '../../store/errors.js';
import { utf8Length } from './bytes.js';

/**
 * Size limits of every name on the wire, chosen so that the largest table event still fits
 * one packet (see TABLE_EVENT_MAX_BYTES in messages.ts and its test).
 */
export const MAX_NAME_BYTES = 64;
/** Member addresses: `host:port`, `[v6]:port`. */
export const MAX_ADDR_BYTES = 64;
export const MAX_KEY_BYTES = 256;
export const MAX_VALUE_BYTES = 800;
/** Largest frame a stream carries either way (bounded, moby#41416); a sync answer is paged well below it. */
export const MAX_STREAM_FRAME_BYTES = 16 * 1024 * 1024;

function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** Checks a member name, network id or table name: 1..64 bytes of UTF-8 without control characters. */
export function checkName(kind: string, value: unknown, maxBytes = MAX_NAME_BYTES): string {
  if (typeof value !== 'string' || value.length === 0)
    throw new InvalidArgumentError(`${kind} must be a non-empty string`);
  if (hasControl(value)) throw new InvalidArgumentError(`${kind} must not contain control characters`);
  if (utf8Length(value) > maxBytes)
    throw new InvalidArgumentError(`${kind} must be at most ${maxBytes} bytes`);
  return value;
}

export function checkKey(value: unknown): string {
  return checkName('key', value, MAX_KEY_BYTES);
}

export function checkValue(value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new InvalidArgumentError('value must be a Uint8Array');
  if (value.byteLength > MAX_VALUE_BYTES) {
    throw new ValueTooLargeError(
      `gossip values are at most ${MAX_VALUE_BYTES} bytes (one UDP packet), got ${value.byteLength}`,
    );
  }
  return value;
}
