import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataDirLock } from '../../src/raft/runtime/data-dir-lock.js';
import { ClusterMismatchError } from '../../src/raft/runtime/errors.js';
import { tempDir } from './support.js';

const LOCK_MODULE = join(import.meta.dirname, '..', '..', 'src', 'raft', 'runtime', 'data-dir-lock.ts');

let dir: ReturnType<typeof tempDir>;
const held: DataDirLock[] = [];
const children: ChildProcess[] = [];
const lockPath = () => join(dir.path, 'node.pid');

/** Field 22 of /proc/PID/stat: the start time that tells a process from a later one with its pid. */
function startTicks(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}
const bootId = () => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

/** A child process that is alive until the test ends (its pid is a running process). */
function liveChild(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  children.push(child);
  return new Promise((resolve) => child.once('spawn', () => resolve(child)));
}

beforeEach(() => {
  dir = tempDir('kvkit-lock-');
});
afterEach(async () => {
  for (const lock of held.splice(0)) lock.release();
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
  }
  dir.remove();
});

describe('DataDirLock', () => {
  it('keeps a second holder in this process out, and lets one in after release', () => {
    const lock = DataDirLock.acquire(dir.path);
    expect(() => DataDirLock.acquire(dir.path)).toThrow(/is in use by this process/);
    lock.release();
    held.push(DataDirLock.acquire(dir.path));
  });

  it('writes its lock file readable by its owner only (0600)', () => {
    held.push(DataDirLock.acquire(dir.path));
    expect(statSync(lockPath()).mode & 0o777).toBe(0o600);
  });

  it('keeps another running process out', async () => {
    // The child takes the lock itself, as a second node process would.
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `const { DataDirLock } = await import(${JSON.stringify(LOCK_MODULE)}); DataDirLock.acquire(${JSON.stringify(dir.path)}); process.stdout.write('held\\n'); setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', (c: Buffer) => c.toString().includes('held') && resolve());
      child.once('exit', (code) => reject(new Error(`child exited with ${code}`)));
    });
    let refusal: unknown;
    try {
      DataDirLock.acquire(dir.path);
    } catch (err) {
      refusal = err;
    }
    expect(refusal).toBeInstanceOf(ClusterMismatchError);
    expect(String(refusal)).toContain(`in use by process ${child.pid}`);
  });

  it('takes over a lock left by a process that has exited', async () => {
    const child = await liveChild();
    const pid = child.pid as number;
    const ticks = startTicks(pid);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    writeFileSync(lockPath(), `${pid}\n${ticks}\n${bootId()}\n`);
    held.push(DataDirLock.acquire(dir.path));
    expect(readFileSync(lockPath(), 'utf8').split('\n')[0]).toBe(String(process.pid));
  });

  it('takes over a lock naming this very process, which does not hold it (a restarted container)', () => {
    writeFileSync(lockPath(), `${process.pid}\n${startTicks(process.pid)}\n${bootId()}\n`);
    held.push(DataDirLock.acquire(dir.path));
  });

  it('takes over a lock whose pid now runs another process (pid reused)', async () => {
    const child = await liveChild();
    const otherStart = Number(startTicks(child.pid as number)) + 1;
    writeFileSync(lockPath(), `${child.pid}\n${otherStart}\n${bootId()}\n`);
    held.push(DataDirLock.acquire(dir.path));
  });

  it('takes over a lock written before the machine rebooted', async () => {
    const child = await liveChild();
    writeFileSync(lockPath(), `${child.pid}\n${startTicks(child.pid as number)}\n00000000-not-this-boot\n`);
    held.push(DataDirLock.acquire(dir.path));
  });

  it('takes over an empty or unreadable lock file (a crash while writing it)', () => {
    writeFileSync(lockPath(), '');
    held.push(DataDirLock.acquire(dir.path));
  });

  it('treats a running pid from an old-style lock file (pid only) as in use', async () => {
    const child = await liveChild();
    writeFileSync(lockPath(), String(child.pid));
    expect(() => DataDirLock.acquire(dir.path)).toThrow(`in use by process ${child.pid}`);
  });
});
