/**
 * A real `redis-server` (Debian's package, /usr/bin/redis-server) as a child process on a
 * loopback port, for the Redis backend's tests. Redis cannot listen on port 0, so a random port
 * is tried and another one taken when it is in use. Every server writes into a temp dir that
 * close() removes; close() also kills the process, so a test calls it in afterAll/finally.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REDIS_SERVER = process.env.KVKIT_REDIS_SERVER ?? '/usr/bin/redis-server';

export interface RedisServerOptions {
  /** Extra `--name value` arguments, e.g. ['--requirepass', 'x']. */
  args?: string[];
  /** Keep data across stop()/start() (append-only file, fsync every write). Default false. */
  persist?: boolean;
  /** Serve TLS on the port instead of plain TCP, with these PEM files' contents. */
  tls?: { cert: string; key: string; ca: string };
}

export interface RedisServer extends AsyncDisposable {
  /** `127.0.0.1:port`, the same across stop()/start(). */
  endpoint: string;
  port: number;
  /** Stops the process (SIGTERM, or SIGKILL with `{ kill: true }`); the port refuses connections. */
  stop(opts?: { kill?: boolean }): Promise<void>;
  /** SIGSTOP: the process holds its connections and answers nothing (a hung server). */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
  /** Starts it again on the same port; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Runs `redis-cli` against this server and returns its stdout. */
  cli(args: string[]): Promise<string>;
  close(): Promise<void>;
}

const READY = /Ready to accept connections/;
const IN_USE = /Address already in use|Could not create server TCP listening socket/;
const START_TIMEOUT_MS = 20_000;

export async function startRedisServer(opts: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'kvkit-redis-'));
  let child: ChildProcess | null = null;
  const files: string[] = [];
  if (opts.tls) {
    for (const [name, pem] of Object.entries(opts.tls)) {
      const file = join(dir, `${name}.pem`);
      writeFileSync(file, pem, { mode: 0o600 });
      files.push('--tls-' + (name === 'ca' ? 'ca-cert' : name) + '-file', file);
    }
  }
  const argsFor = (port: number) => [
    ...(opts.tls
      ? ['--port', '0', '--tls-port', String(port), '--tls-auth-clients', 'optional', ...files]
      : ['--port', String(port)]),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    opts.persist ? 'yes' : 'no',
    '--appendfsync',
    'always',
    '--daemonize',
    'no',
    '--protected-mode',
    'yes',
    ...(opts.args ?? []),
  ];

  /** Starts on `port`: 'ready', or 'in-use' when another process holds the port. */
  const launch = (port: number): Promise<'ready' | 'in-use'> =>
    new Promise((resolve, reject) => {
      const proc = spawn(REDIS_SERVER, argsFor(port), { stdio: ['ignore', 'pipe', 'pipe'] });
      child = proc;
      let output = '';
      const timer = setTimeout(
        () => finish(new Error(`redis-server on ${port} not ready: ${output}`)),
        START_TIMEOUT_MS,
      );
      const finish = (result: 'ready' | 'in-use' | Error) => {
        clearTimeout(timer);
        proc.stdout?.removeAllListeners('data');
        proc.stdout?.resume();
        proc.stderr?.resume();
        if (result instanceof Error) {
          proc.kill('SIGKILL');
          reject(result);
        } else resolve(result);
      };
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (READY.test(output)) finish('ready');
        else if (IN_USE.test(output)) finish('in-use');
      };
      proc.stdout?.on('data', onData);
      proc.stderr?.on('data', onData);
      proc.once('error', (err) => finish(err));
      proc.once('exit', (code) => {
        if (IN_USE.test(output)) finish('in-use');
        else finish(new Error(`redis-server exited (${code}) before it was ready: ${output}`));
      });
    });

  const exited = (proc: ChildProcess) =>
    proc.exitCode !== null || proc.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((resolve) => proc.once('exit', () => resolve()));

  let port = 0;
  try {
    for (let attempt = 0; ; attempt++) {
      port = 20_000 + Math.floor(Math.random() * 40_000);
      if ((await launch(port)) === 'ready') break;
      if (child) await exited(child);
      if (attempt >= 20) throw new Error('no free port for redis-server after 20 attempts');
    }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  const stop = async (o: { kill?: boolean } = {}) => {
    const proc = child;
    child = null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(o.kill ? 'SIGKILL' : 'SIGTERM');
    await exited(proc);
  };
  const close = async () => {
    await stop({ kill: true });
    rmSync(dir, { recursive: true, force: true });
  };
  return {
    endpoint: `127.0.0.1:${port}`,
    port,
    stop,
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    async start() {
      // The port was ours a moment ago; a stranger taking it in between is retried briefly.
      for (let attempt = 0; ; attempt++) {
        if ((await launch(port)) === 'ready') return;
        if (child) await exited(child);
        if (attempt >= 20) throw new Error(`port ${port} stayed in use`);
        await new Promise((r) => setTimeout(r, 250));
      }
    },
    cli: (args) => redisCli(port, args, opts.tls ? join(dir, 'ca.pem') : undefined),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** `redis-cli -p PORT args...`; rejects with its stderr when it fails. */
function redisCli(port: number, args: string[], caFile: string | undefined): Promise<string> {
  const tls = caFile ? ['--tls', '--cacert', caFile] : [];
  return new Promise((resolve, reject) => {
    const proc = spawn('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...tls, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    proc.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    proc.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`redis-cli ${args.join(' ')} failed (${code}): ${err}`));
    });
  });
}
