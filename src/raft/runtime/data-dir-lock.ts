import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClusterMismatchError } from './errors.js';

const LOCK_FILE = 'node.pid';

/**
 * One node per data directory: LMDB itself lets several processes share a file, which for a
 * Raft log would mean two servers with one identity. A pid file held for the node's life
 * keeps a second one out; a file left by a process that died (kill -9) is taken over.
 */
export class DataDirLock {
  private constructor(private readonly path: string) {}

  static acquire(dir: string): DataDirLock {
    const path = join(dir, LOCK_FILE);
    try {
      writeFileSync(path, String(process.pid), { flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number.parseInt(readFileSync(path, 'utf8'), 10);
      if (Number.isInteger(holder) && holder > 0 && isAlive(holder)) {
        throw new ClusterMismatchError(
          `data dir ${dir} is in use by ${holder === process.pid ? 'this process' : `process ${holder}`}`,
        );
      }
      writeFileSync(path, String(process.pid));
    }
    return new DataDirLock(path);
  }

  release(): void {
    rmSync(this.path, { force: true });
  }
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
