import { KVError } from '../../store/errors.js';

/** A packet or stream frame that does not decode: hostile or damaged input, never a crash. */
export class WireError extends KVError {
  constructor(message: string) {
    super('PROTOCOL_ERROR', message);
  }
}

const decoder = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

/** UTF-8 bytes of a string (ASCII fast path; names and keys are mostly ASCII). */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

export function utf8Length(text: string): number {
  let ascii = true;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  }
  return ascii ? text.length : encoder.encode(text).byteLength;
}

/** Appends values to a growing buffer: LEB128 varints, length-prefixed UTF-8 strings and bytes. */
export class ByteWriter {
  private buf: Uint8Array;
  private pos = 0;

  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
  }

  get length(): number {
    return this.pos;
  }

  /** Starts over, keeping the buffer (one scratch writer serves every small message). */
  reset(): this {
    this.pos = 0;
    return this;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.byteLength) return;
    let size = this.buf.byteLength * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  u8(value: number): this {
    this.ensure(1);
    this.buf[this.pos++] = value & 0xff;
    return this;
  }

  /** Unsigned integer up to 2^53 - 1, 7 bits per byte. */
  varint(value: number): this {
    this.ensure(8);
    let v = value;
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
    return this;
  }

  u32(value: number): this {
    this.ensure(4);
    const b = this.buf;
    b[this.pos++] = (value >>> 24) & 0xff;
    b[this.pos++] = (value >>> 16) & 0xff;
    b[this.pos++] = (value >>> 8) & 0xff;
    b[this.pos++] = value & 0xff;
    return this;
  }

  bytes(value: Uint8Array): this {
    this.varint(value.byteLength);
    this.raw(value);
    return this;
  }

  raw(value: Uint8Array): this {
    this.ensure(value.byteLength);
    this.buf.set(value, this.pos);
    this.pos += value.byteLength;
    return this;
  }

  str(value: string): this {
    let ascii = value.length < 0x80;
    if (ascii) {
      for (let i = 0; i < value.length; i++) {
        if (value.charCodeAt(i) > 0x7f) {
          ascii = false;
          break;
        }
      }
    }
    if (!ascii) return this.bytes(encoder.encode(value));
    this.ensure(1 + value.length);
    this.buf[this.pos++] = value.length;
    for (let i = 0; i < value.length; i++) this.buf[this.pos++] = value.charCodeAt(i);
    return this;
  }

  /** The bytes written so far (a copy, so the writer can be reused). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

/** Reads what ByteWriter wrote; every read checks bounds and throws WireError. */
export class ByteReader {
  private pos = 0;

  constructor(private readonly buf: Uint8Array) {}

  get remaining(): number {
    return this.buf.byteLength - this.pos;
  }

  get done(): boolean {
    return this.pos >= this.buf.byteLength;
  }

  u8(): number {
    if (this.pos >= this.buf.byteLength) throw new WireError('truncated input');
    return this.buf[this.pos++];
  }

  varint(max = Number.MAX_SAFE_INTEGER): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const byte = this.u8();
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (result > max) throw new WireError(`integer ${result} exceeds ${max}`);
        return result;
      }
      scale *= 0x80;
    }
    throw new WireError('varint too long');
  }

  u32(): number {
    if (this.remaining < 4) throw new WireError('truncated input');
    const b = this.buf;
    const v =
      ((b[this.pos] << 24) | (b[this.pos + 1] << 16) | (b[this.pos + 2] << 8) | b[this.pos + 3]) >>> 0;
    this.pos += 4;
    return v;
  }

  bytes(maxBytes: number): Uint8Array {
    const length = this.varint(maxBytes);
    if (length > this.remaining) throw new WireError('truncated input');
    // A plain Uint8Array copy (not a Buffer view of the packet) for the API to hand out.
    const out = new Uint8Array(this.buf.subarray(this.pos, this.pos + length));
    this.pos += length;
    return out;
  }

  /** A UTF-8 string of 1..maxBytes bytes without control characters. */
  str(maxBytes: number): string {
    const length = this.varint(maxBytes);
    if (length === 0) throw new WireError('empty string');
    if (length > this.remaining) throw new WireError('truncated input');
    const start = this.pos;
    this.pos += length;
    let ascii = true;
    for (let i = start; i < this.pos; i++) {
      const c = this.buf[i];
      if (c < 0x20 || c === 0x7f) throw new WireError('control character in string');
      if (c > 0x7f) ascii = false;
    }
    if (ascii)
      return String.fromCharCode.apply(null, this.buf.subarray(start, this.pos) as unknown as number[]);
    try {
      return decoder.decode(this.buf.subarray(start, this.pos));
    } catch {
      throw new WireError('invalid UTF-8');
    }
  }

  bool(): boolean {
    const v = this.u8();
    if (v > 1) throw new WireError('bad boolean');
    return v === 1;
  }
}
