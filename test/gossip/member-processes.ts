import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'member-process.ts');

interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
  code?: string;
}

/** One child process hosting gossip members, driven by JSON commands (see fixtures/member-process.ts). */
export class MemberProcess {
  readonly child: ChildProcess;
  readonly logs: string[] = [];
  readonly ready: Promise<void>;
  private nextId = 1;
  private readonly pending = new Map<number, (reply: Reply) => void>();
  private readonly exited: Promise<void>;
  private exitReason = '';

  constructor(readonly label: string) {
    this.child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
      cwd: join(import.meta.dirname, '..', '..'),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let markReady: () => void = () => {};
    this.ready = new Promise((resolve) => {
      markReady = resolve;
    });
    createInterface({ input: this.child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      let msg: Reply & { log?: string; ready?: boolean };
      try {
        msg = JSON.parse(line);
      } catch {
        return;
      }
      if (msg.ready) markReady();
      else if (msg.log !== undefined) this.logs.push(msg.log);
      else this.pending.get(msg.id)?.(msg);
    });
    // The tail of stderr, so a process that dies says why in the error its callers get.
    let stderr = '';
    this.child.stderr?.setEncoding('utf8');
    this.child.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4096);
    });
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        this.exitReason = `${label} exited (${signal ?? `code ${code}`})${stderr.trim() ? `: ${stderr.trim()}` : ''}`;
        resolve();
      }),
    );
    this.exited.then(() => {
      for (const resolve of this.pending.values()) resolve({ id: 0, ok: false, error: this.exitReason });
      this.pending.clear();
    });
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Sends a command; resolves with its result, rejects with its error (or after `timeoutMs`). */
  async call<T = unknown>(op: string, args: Record<string, unknown> = {}, timeoutMs = 60_000): Promise<T> {
    await this.ready;
    if (!this.alive) throw new Error(this.exitReason || `${this.label} exited`);
    const id = this.nextId++;
    const reply = await new Promise<Reply>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve({ id, ok: false, error: `${this.label}: ${op} did not answer within ${timeoutMs} ms` });
      }, timeoutMs);
      this.pending.set(id, (r) => {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(r);
      });
      this.child.stdin?.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
    if (!reply.ok) throw Object.assign(new Error(reply.error), { code: reply.code });
    return reply.result as T;
  }

  signal(sig: NodeJS.Signals): void {
    if (this.alive) this.child.kill(sig);
  }

  /** SIGKILL and wait for the exit (safe to call twice, or on a dead process). */
  async kill(): Promise<void> {
    if (this.alive) {
      this.child.kill('SIGCONT');
      this.child.kill('SIGKILL');
    }
    await this.exited;
  }
}

/** Polls `check` until it returns true; rejects with `what` after `timeoutMs`. */
export async function eventually(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (${String(last)})` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
