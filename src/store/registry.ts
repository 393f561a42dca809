import { BackendNotSupportedError } from './errors.js';
import type { BackendName, Store, StoreOptions } from './types.js';

/** Opens a store of one backend from resolved options. */
export type BackendFactory = (options: StoreOptions) => Promise<Store>;

const factories = new Map<string, BackendFactory>();

/** Registers (or replaces) the factory behind a backend name, so `createStore` can open it. */
export function registerBackend(name: BackendName | string, factory: BackendFactory): void {
  factories.set(name, factory);
}

/** The names of the backends that can be opened. */
export function registeredBackends(): string[] {
  return [...factories.keys()].sort();
}

export function backendFactory(name: string): BackendFactory {
  const factory = factories.get(name);
  if (!factory) {
    throw new BackendNotSupportedError(
      `backend ${JSON.stringify(name)} is not available; available: ${registeredBackends().join(', ')}`,
    );
  }
  return factory;
}
