/**
 * The few `Reflect` metadata functions @peculiar/x509's dependency injection (tsyringe)
 * expects a polyfill to provide. tsyringe reads them only while its decorators run, i.e.
 * while @peculiar/x509's module is evaluated (tsyringe dist/cjs/reflection-helpers.js is called
 * from `injectable()` alone), so `withReflectMetadata` installs them for that load and takes
 * them away again: importing kvkit, or making certificates, leaves `Reflect` as it was. A full
 * polyfill (reflect-metadata) installed by the application takes precedence and stays.
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

/** Runs `load` with the metadata functions on `Reflect` (those it lacked), then removes them. */
export async function withReflectMetadata<T>(load: () => Promise<T>): Promise<T> {
  const reflect = Reflect as unknown as Record<string, unknown>;
  const added = Object.keys(api).filter((name) => reflect[name] === undefined);
  for (const name of added) reflect[name] = api[name as keyof typeof api];
  try {
    return await load();
  } finally {
    for (const name of added) delete reflect[name];
  }
}
