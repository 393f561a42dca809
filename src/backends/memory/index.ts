import type { Store, StoreOptions } from '../../store/types.js';
import { MemoryStore } from './memory-store.js';

export { MemoryStore };

/** `memory:` opens a private store; `memory://NAME` one shared by name within the process. */
export async function openMemoryStore(options: StoreOptions): Promise<Store> {
  return new MemoryStore({
    name: options.endpoints?.[0],
    prefix: options.prefix,
    maxValueBytes: options.maxValueBytes,
  });
}
