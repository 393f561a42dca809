/** What /proc says about other processes, for benchmarks and tests that watch them (Linux). */
import { readdirSync, readFileSync } from 'node:fs';

/** USER_HZ: the unit of utime and stime in /proc/PID/stat. */
const CLOCK_TICKS = 100;

/** CPU time (user + system) a process used so far, in ms; 0 once it is gone. */
export function cpuMsOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS; // utime, stime
  } catch {
    return 0;
  }
}

/** The children of `pid` (every thread's), from /proc. */
export function childrenOf(pid: number | 'self'): number[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
    try {
      return readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8')
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(Number);
    } catch {
      return []; // the thread ended meanwhile
    }
  });
}
