/**
 * The few `Reflect` metadata functions @peculiar/x509's dependency injection (tsyringe)
 * expects a polyfill to provide. Imported for its side effect before @peculiar/x509; a
 * full polyfill (reflect-metadata) installed by the application takes precedence.
 */

type Target = object;
type Store = Map<string | symbol | undefined, Map<unknown, unknown>>;

const stores = new WeakMap<Target, Store>();

function ownMap(
  target: Target,
  property: string | symbol | undefined,
  create: boolean,
): Map<unknown, unknown> | undefined {
  let store = stores.get(target);
  if (!store) {
    if (!create) return undefined;
    store = new Map();
    stores.set(target, store);
  }
  let map = store.get(property);
  if (!map && create) {
    map = new Map();
    store.set(property, map);
  }
  return map;
}

const api = {
  defineMetadata(key: unknown, value: unknown, target: Target, property?: string | symbol): void {
    ownMap(target, property, true)?.set(key, value);
  },
  getOwnMetadata(key: unknown, target: Target, property?: string | symbol): unknown {
    return ownMap(target, property, false)?.get(key);
  },
  hasOwnMetadata(key: unknown, target: Target, property?: string | symbol): boolean {
    return ownMap(target, property, false)?.has(key) ?? false;
  },
  getMetadata(key: unknown, target: Target, property?: string | symbol): unknown {
    for (let t: Target | null = target; t !== null; t = Object.getPrototypeOf(t)) {
      const map = ownMap(t, property, false);
      if (map?.has(key)) return map.get(key);
    }
    return undefined;
  },
  hasMetadata(key: unknown, target: Target, property?: string | symbol): boolean {
    for (let t: Target | null = target; t !== null; t = Object.getPrototypeOf(t)) {
      if (ownMap(t, property, false)?.has(key)) return true;
    }
    return false;
  },
  metadata(key: unknown, value: unknown) {
    return (target: Target, property?: string | symbol) => api.defineMetadata(key, value, target, property);
  },
};

const reflect = Reflect as unknown as Record<string, unknown>;
if (typeof reflect.getMetadata !== 'function') {
  for (const [name, fn] of Object.entries(api)) reflect[name] = fn;
}
