import { BackendNotSupportedError, InvalidArgumentError } from './errors.js';
import type { Store, StoreOptions } from './types.js';

/** Opens a store of one backend from resolved options. */
export type BackendFactory = (options: StoreOptions) => Promise<Store>;

/**
 * What a store URL of a backend holds after `scheme:`:
 * - `hosts`: `//[user:pass@]host:port[,host:port...]` (required), no path;
 * - `path`: an absolute directory (`local:///abs/dir`), no host;
 * - `name`: an optional name (`memory:`, `memory://NAME`), no path;
 * - `any` (the default for a registered backend): hosts and a path, both optional.
 */
export type UrlShape = 'hosts' | 'path' | 'name' | 'any';

export interface BackendRegistration {
  /** Other URL schemes that open this backend (`zookeeper` for `zk`). */
  aliases?: readonly string[];
  /** What the URL names (see {@link UrlShape}). Default `any`. */
  url?: UrlShape;
  /** Query parameters of this backend's URLs beyond the common ones; passed on in `options.params`. */
  params?: readonly string[];
}

export interface RegisteredBackend {
  name: string;
  factory: BackendFactory;
  url: UrlShape;
  params: readonly string[];
}

const SCHEME = /^[a-z][a-z0-9+.-]*$/;
const backends = new Map<string, RegisteredBackend>();
/** Every scheme (names and aliases) → the backend name. */
const schemes = new Map<string, string>();

/**
 * Registers (or replaces) a backend, so `createStore` opens `name://…` (and each alias's
 * URLs) and `{ backend: name }` with `factory`.
 */
export function registerBackend(
  name: string,
  factory: BackendFactory,
  registration: BackendRegistration = {},
): void {
  for (const scheme of [name, ...(registration.aliases ?? [])]) {
    if (typeof scheme !== 'string' || !SCHEME.test(scheme)) {
      throw new InvalidArgumentError(
        `backend name ${JSON.stringify(scheme)} is not a URL scheme (lower-case letters, digits, + - .)`,
      );
    }
  }
  if (typeof factory !== 'function')
    throw new InvalidArgumentError(`backend ${name} needs a factory function`);
  backends.set(name, { name, factory, url: registration.url ?? 'any', params: registration.params ?? [] });
  schemes.set(name, name);
  for (const alias of registration.aliases ?? []) schemes.set(alias, name);
}

/** The names of the backends that can be opened. */
export function registeredBackends(): string[] {
  return [...backends.keys()].sort();
}

/** Every URL scheme `createStore` opens (backend names and their aliases). */
export function registeredSchemes(): string[] {
  return [...schemes.keys()].sort();
}

/** The backend a scheme or backend name opens; BACKEND_NOT_SUPPORTED naming the available ones. */
export function findBackend(scheme: string, shown = JSON.stringify(scheme)): RegisteredBackend {
  const name = schemes.get(scheme);
  const backend = name === undefined ? undefined : backends.get(name);
  if (!backend) {
    throw new BackendNotSupportedError(
      `backend ${shown} is not available; available: ${registeredSchemes().join(', ') || '(none)'}`,
    );
  }
  return backend;
}

export function backendFactory(name: string): BackendFactory {
  return findBackend(name).factory;
}
