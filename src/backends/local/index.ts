import { InvalidArgumentError } from '../../store/errors.js';
import type { Store, StoreOptions } from '../../store/types.js';
import { LocalStore } from './local-store.js';

export { LocalStore };

/** `local:///abs/dir`: a durable store in that directory. */
export async function openLocalStore(options: StoreOptions): Promise<Store> {
  if (!options.path) throw new InvalidArgumentError('the local backend needs a path (local:///abs/dir)');
  return new LocalStore({ path: options.path, prefix: options.prefix, maxValueBytes: options.maxValueBytes });
}
