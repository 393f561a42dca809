import { join } from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import { checkLmdbFile } from '../../lmdb/file-check.js';
import { NotReachableError } from '../../store/errors.js';

const GATE_FILE = 'kvkit.gate';

/**
 * A cross-process mutex, per store directory, that keeps opening the store apart from writing
 * to it. lmdb-js's LMDB writes the shared "last transaction id" from the meta page it read
 * whenever a process opens the environment (mdb.c, `mdb_env_open2`), also when other processes
 * have it open; a commit landing between that read and that write rolls the id back, and the
 * next writer builds on the older meta page: an acknowledged commit is lost (a compare-and-swap
 * counter loses increments; sometimes a writer fails with MDB_BAD_TXN instead). Measured with
 * 3 writers and 3 processes opening meanwhile: 6 of 20 runs lost writes; 0 of 20 when every
 * process had opened before the first write.
 *
 * The gate is a second LMDB environment that never holds data: its write lock (a robust
 * process-shared mutex, released by the kernel when a holder dies) is the mutex, taken by an
 * empty write transaction. Since nothing is ever committed to it, its own open has nothing to
 * roll back. Writes hold it around their transaction; opening holds it around the open.
 */
export class WriterGate {
  readonly #root: RootDatabase;
  /** Writes waiting for the next hold: they share it (one hold, one LMDB batch). */
  #waiting: { run: () => Promise<void>; fail: (err: Error) => void }[] = [];
  #cycling = false;

  constructor(dir: string) {
    const file = join(dir, GATE_FILE);
    checkLmdbFile(file);
    try {
      // No data, so nothing to flush: noSync keeps an empty commit free of fsyncs.
      this.#root = open({ path: file, maxDbs: 1, noSync: true, permissionsMode: 0o600 } as Parameters<
        typeof open
      >[0]);
    } catch (err) {
      throw new NotReachableError(`cannot open ${file}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Runs `fn` holding the gate; blocks this thread until another process lets it go. */
  holdSync<T>(fn: () => T): T {
    return this.#root.transactionSync(fn);
  }

  /**
   * Runs `job` holding the gate, without blocking the thread while waiting for it. Jobs that
   * arrive while the gate is held run together in the next hold.
   */
  hold<T>(job: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#waiting.push({ run: () => job().then(resolve, reject), fail: reject });
      if (!this.#cycling) void this.#cycle();
    });
  }

  async #cycle(): Promise<void> {
    this.#cycling = true;
    try {
      while (this.#waiting.length > 0) {
        // A callback that returns a promise keeps lmdb-js's write transaction (and so the
        // gate's lock) open until it settles; the jobs never reject (see hold).
        await this.#root.transaction(async () => {
          const batch = this.#waiting;
          this.#waiting = [];
          await Promise.all(batch.map((waiting) => waiting.run()));
        });
      }
    } catch (err) {
      // The gate itself failed (closed, say): the jobs still waiting never ran.
      const failed = this.#waiting;
      this.#waiting = [];
      const error = new NotReachableError(`the local store's writer gate failed: ${(err as Error).message}`, {
        cause: err,
      });
      for (const waiting of failed) waiting.fail(error);
    } finally {
      this.#cycling = false;
    }
  }

  close(): Promise<void> {
    return this.#root.close();
  }
}
