export { Backoff, type BackoffOptions } from './backoff.js';
export { BaseStore, compareKeys, DEFAULT_LOCK_TTL_MS, MAX_VALUE_BYTES } from './base-store.js';
export { Channel } from './channel.js';
export { checkStoreOptions, createStore, parseStoreUrl } from './create-store.js';
export { type Endpoint, formatEndpoint, parseEndpoint, parseEndpoints } from './endpoints.js';
export * from './errors.js';
export { MAX_KEY_BYTES, normalizeKey, normalizePrefix } from './keys.js';
export {
  checkTtlMs,
  checkValueSize,
  MAX_TTL_MS,
  MAX_VALUE_BYTES_CEILING,
  resolveMaxValueBytes,
} from './limits.js';
export {
  type BackendFactory,
  type BackendRegistration,
  registerBackend,
  registeredBackends,
  registeredSchemes,
  type UrlShape,
} from './registry.js';
export { anySignal, sleep, whenAborted, withTimeout } from './signals.js';
export { TtlLock } from './ttl-lock.js';
export * from './types.js';
export { json, text, toBytes } from './values.js';
