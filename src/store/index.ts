export { BaseStore, compareKeys, DEFAULT_LOCK_TTL_MS, MAX_VALUE_BYTES } from './base-store.js';
export { Channel } from './channel.js';
export { createStore, parseStoreUrl } from './create-store.js';
export * from './errors.js';
export { MAX_KEY_BYTES, normalizeKey, normalizePrefix } from './keys.js';
export { type BackendFactory, registerBackend, registeredBackends } from './registry.js';
export { TtlLock } from './ttl-lock.js';
export * from './types.js';
export { json, text, toBytes } from './values.js';
