import { describe, expect, it } from 'vitest';
import { failure } from '../../src/conformance/helpers.js';
import {
  checkTtlMs,
  createStore,
  MAX_TTL_MS,
  MAX_VALUE_BYTES,
  MAX_VALUE_BYTES_CEILING,
  normalizeKey,
  normalizePrefix,
  resolveMaxValueBytes,
} from '../../src/index.js';

const YEAR_MS = 365 * 24 * 60 * 60 * 1000;

describe('TTL bounds', () => {
  it('declares a maximum TTL of at least one year', () => {
    expect(MAX_TTL_MS).toBeGreaterThanOrEqual(YEAR_MS + 24 * 60 * 60 * 1000);
    expect(checkTtlMs(MAX_TTL_MS)).toBe(MAX_TTL_MS);
  });

  it('refuses a TTL over the maximum with INVALID_ARGUMENT naming the value and the limit', () => {
    expect(() => checkTtlMs(MAX_TTL_MS + 1)).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        message: expect.stringContaining(`${MAX_TTL_MS}`),
      }),
    );
    expect(() => checkTtlMs(MAX_TTL_MS + 1, 'lock ttl')).toThrow(/lock ttl of 31622400001 ms is over/);
  });

  it('refuses zero, negative, infinite, NaN and non-number TTLs', () => {
    for (const bad of [0, -1, Number.POSITIVE_INFINITY, Number.NaN, '100', null]) {
      expect(() => checkTtlMs(bad)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
  });

  it('refuses a lock TTL over the maximum before anything is written', async () => {
    await using store = await createStore('memory:');
    const err = await failure(() => store.newLock('l', { ttl: MAX_TTL_MS * 2 }).lock());
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(await store.exists('l')).toBe(false);
  });
});

describe('value size bounds', () => {
  it('defaults maxValueBytes to MAX_VALUE_BYTES on memory and local stores', async () => {
    await using store = await createStore('memory:');
    expect(store.capabilities.maxValueBytes).toBe(MAX_VALUE_BYTES);
  });

  it('takes maxValueBytes from the URL and enforces it', async () => {
    await using store = await createStore('memory:?maxValueBytes=16');
    expect(store.capabilities.maxValueBytes).toBe(16);
    await store.put('k', new Uint8Array(16));
    expect((await failure(() => store.put('k', new Uint8Array(17)))).code).toBe('VALUE_TOO_LARGE');
  });

  it('refuses a configured maxValueBytes over 64 MiB or below 1', async () => {
    expect(MAX_VALUE_BYTES_CEILING).toBe(64 * 1024 * 1024);
    expect((await failure(() => createStore(`memory:?maxValueBytes=${64 * 1024 * 1024 + 1}`))).code).toBe(
      'INVALID_ARGUMENT',
    );
    expect((await failure(() => createStore({ backend: 'memory', maxValueBytes: 0 }))).code).toBe(
      'INVALID_ARGUMENT',
    );
    expect(() => resolveMaxValueBytes(1.5)).toThrow(/positive whole number/);
    expect(resolveMaxValueBytes(64 * 1024 * 1024)).toBe(64 * 1024 * 1024);
  });
});

describe('key rules', () => {
  it('refuses a key or prefix with a lone surrogate with INVALID_KEY', () => {
    for (const bad of ['a\uD800', '\uDFFFz', 'x/\uD83D/y', '\uDE00\uD83D']) {
      expect(() => normalizeKey(bad)).toThrow(expect.objectContaining({ code: 'INVALID_KEY' }));
      expect(() => normalizePrefix(bad)).toThrow(expect.objectContaining({ code: 'INVALID_KEY' }));
    }
  });

  it('accepts surrogate pairs (emoji, astral letters)', () => {
    expect(normalizeKey('/🔑/𝒳')).toBe('🔑/𝒳');
  });
});
