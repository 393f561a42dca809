import { readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClusterMismatchError } from './errors.js';

const LOCK_FILE = 'node.pid';

/** Lock files held by this process (real paths): the only proof that "this process" holds one. */
const heldHere = new Set<string>();

/** Who wrote a lock file: a pid, and what tells that process apart from a later one with its pid. */
interface LockOwner {
  pid: number;
  /** The process' start time in clock ticks since boot (/proc/PID/stat field 22); null if unknown. */
  startTicks: number | null;
  /** The kernel's boot id; null if unknown. A lock from before a reboot is always stale. */
  bootId: string | null;
}

/**
 * One node per data directory: two processes writing one Raft log would be two servers with
 * one identity. A pid file held for the node's life keeps a second one out. A file left by a
 * process that is gone is taken over: its pid is not running, or runs a different process
 * (another start time: the pid was reused), or the machine rebooted since (another boot id),
 * or it names this very process, which does not hold it (a container restarted with the same
 * pid, typically 1).
 */
export class DataDirLock {
  private constructor(private readonly path: string) {}

  static acquire(dir: string): DataDirLock {
    const path = join(realpathSync(dir), LOCK_FILE);
    if (heldHere.has(path)) throw new ClusterMismatchError(`data dir ${dir} is in use by this process`);
    const mine = formatOwner(currentOwner());
    for (let attempt = 0; ; attempt++) {
      try {
        writeFileSync(path, mine, { flag: 'wx', mode: 0o600 });
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw err;
      }
      const owner = readOwner(path);
      if (owner !== null && isRunning(owner)) {
        throw new ClusterMismatchError(`data dir ${dir} is in use by process ${owner.pid}`);
      }
      // Stale: remove it and try to create ours again (a rival doing the same makes one of
      // the two creations fail with EEXIST, and that one looks again).
      rmSync(path, { force: true });
    }
    heldHere.add(path);
    return new DataDirLock(path);
  }

  release(): void {
    if (!heldHere.delete(this.path)) return;
    rmSync(this.path, { force: true });
  }
}

function currentOwner(): LockOwner {
  return { pid: process.pid, startTicks: startTicksOf(process.pid), bootId: bootId() };
}

function formatOwner(owner: LockOwner): string {
  return `${owner.pid}\n${owner.startTicks ?? ''}\n${owner.bootId ?? ''}\n`;
}

/** Reads a lock file: `pid`, optionally followed by start ticks and boot id (one per line). */
function readOwner(path: string): LockOwner | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  const [pidLine, ticksLine, bootLine] = text.split('\n');
  const pid = Number.parseInt(pidLine ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0) return null; // empty or torn: nobody can hold it
  const ticks = Number.parseInt(ticksLine ?? '', 10);
  return {
    pid,
    startTicks: Number.isInteger(ticks) ? ticks : null,
    bootId: bootLine ? bootLine.trim() : null,
  };
}

/** Whether the process that wrote the lock still runs (when unsure: yes). */
function isRunning(owner: LockOwner): boolean {
  // This process is running, but a lock it holds is in `heldHere`: this one is from an
  // earlier life of the pid (a restarted container).
  if (owner.pid === process.pid) return false;
  const boot = bootId();
  if (owner.bootId !== null && boot !== null && owner.bootId !== boot) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (owner.startTicks === null) return true;
  const ticks = startTicksOf(owner.pid);
  return ticks === null || ticks === owner.startTicks;
}

/** Field 22 of /proc/PID/stat (after the parenthesised command name, which may hold spaces). */
function startTicksOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number.parseInt(fields[19] ?? '', 10);
    return Number.isInteger(ticks) ? ticks : null;
  } catch {
    return null;
  }
}

let cachedBootId: string | null | undefined;

function bootId(): string | null {
  if (cachedBootId === undefined) {
    try {
      cachedBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
    } catch {
      cachedBootId = null;
    }
  }
  return cachedBootId;
}
