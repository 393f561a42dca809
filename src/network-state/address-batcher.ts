import type { Claim } from './claim-space.js';
import { NoAvailableIpsError } from './errors.js';
import type { PoolRef } from './ipam.js';
import { nextOffset, type Offset } from './offset.js';

interface Request {
  pool: PoolRef;
  owner: string;
  serial: boolean;
  resolve: (offset: Offset) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit for single-address requests: requests for one pool that arrive while a write is
 * in flight are served together by the next one — one load, one compare-and-swap per chunk —
 * instead of each racing the others from its own read (which costs a retry per request).
 */
export class AddressBatcher {
  readonly #queues = new Map<string, Request[]>();

  next(pool: PoolRef, owner: string, serial: boolean): Promise<Offset> {
    return new Promise<Offset>((resolve, reject) => {
      const key = pool.entry.instance;
      const queue = this.#queues.get(key);
      const request = { pool, owner, serial, resolve, reject };
      if (queue) {
        queue.push(request);
        return;
      }
      this.#queues.set(key, [request]);
      void this.#drain(key);
    });
  }

  async #drain(key: string): Promise<void> {
    const queue = this.#queues.get(key) as Request[];
    while (queue.length > 0) {
      const batch = queue.splice(0);
      try {
        await serve(batch);
      } catch (err) {
        for (const r of batch) r.reject(err);
      }
    }
    this.#queues.delete(key);
  }
}

/** Serves a batch (all on one pool instance, maybe different sub-pool ranges), retrying lost races. */
async function serve(batch: Request[]): Promise<void> {
  let waiting = batch;
  const claims = batch[0].pool.claims;
  while (waiting.length > 0) {
    const [snapshot, cursors] = await Promise.all([claims.load(), claims.readCursors()]);
    const planned = new Map<Request, Claim>();
    const moved = new Map<string, Offset>();
    for (const request of waiting) {
      const { first, last } = request.pool.bounds;
      const scope = request.pool.scope;
      const cursor = request.serial ? (moved.get(scope) ?? cursors.get(scope)) : undefined;
      const offset = last < first ? null : snapshot.bits.allocate({ from: first, to: last, cursor });
      if (offset === null) {
        request.reject(new NoAvailableIpsError(`pool ${request.pool.poolId}`));
        continue;
      }
      if (request.serial) moved.set(scope, nextOffset(offset));
      planned.set(request, { offset, owner: request.owner });
    }
    const result = await claims.commit(snapshot, [...planned.values()]);
    if (result.failed.length > 0) throw result.failed[0].error;
    const committed = new Set(result.committed);
    const retry: Request[] = [];
    for (const [request, claim] of planned) {
      if (committed.has(claim)) request.resolve(claim.offset);
      else retry.push(request);
    }
    for (const [scope, next] of moved) await claims.writeCursor(scope, next);
    waiting = retry;
  }
}
