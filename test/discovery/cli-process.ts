import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

/** The real entry point, as a user runs it: `node --import tsx src/cli/main.ts ...`. */
const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

/** One `kvkit ...` child process with its output lines; tests kill what they start in `finally`. */
export class KvkitProcess {
  readonly child: ChildProcess;
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #waiters = new Set<() => void>();

  constructor(args: string[]) {
    this.child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      cwd: join(import.meta.dirname, '..', '..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#collect(this.child.stdout, this.stdout);
    this.#collect(this.child.stderr, this.stderr);
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => {
        resolve({ code, signal });
        for (const wake of this.#waiters) wake();
      }),
    );
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The first stdout line matching `re`; rejects after `timeoutMs` or if the process exits first. */
  line(re: RegExp, timeoutMs = 30_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.stdout.find((l) => re.test(l));
        if (found !== undefined) return done(() => resolve(found));
        if (!this.alive)
          return done(() =>
            reject(new Error(`kvkit exited before printing ${re}: ${this.stderr.join('\n')}`)),
          );
      };
      const timer = setTimeout(
        () =>
          done(() =>
            reject(
              new Error(`kvkit printed no line matching ${re} in ${timeoutMs} ms: ${this.stderr.join('\n')}`),
            ),
          ),
        timeoutMs,
      );
      const done = (finish: () => void) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        finish();
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** SIGKILL if still running; resolves once it has exited. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.alive) this.child.kill(signal);
    await this.exited;
  }

  #collect(stream: NodeJS.ReadableStream | null, into: string[]): void {
    let buffered = '';
    stream?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      into.push(...parts);
      for (const wake of [...this.#waiters]) wake();
    });
  }
}
