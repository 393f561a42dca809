/**
 * Runs `work` on every item with at most `limit` in flight, so a pass over 60,000 tasks keeps
 * the store busy without queueing 60,000 promises at once. Rejects with the first error after
 * the calls already started have settled.
 */
export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | null = null;
  const worker = async () => {
    while (failure === null && next < items.length) {
      const index = next++;
      try {
        await work(items[index], index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw (failure as { error: unknown }).error;
}

/**
 * How many store writes a pass keeps in flight. Well under what a raft:// session remembers of
 * its answers (1,024 replies): with two 1,024-write passes at once on one client (issue 18's
 * burst creates two services together), a write retried after a slow answer found its reply
 * forgotten and failed as ALREADY_APPLIED; 256 still keeps every backend's pipeline full.
 */
export const WRITE_CONCURRENCY = 256;
