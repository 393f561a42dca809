/**
 * A small replicated key-value state machine for the simulator: string registers with
 * get / put / cas, and client sessions that make retried commands take effect at most once
 * (Raft thesis §6.3). Deterministic: every replica applying the same commands in the same
 * order reaches the same state and returns the same results.
 *
 * Its shape matches `ReplicatedStateMachine` in src/raft/replica.ts (apply / snapshot /
 * restore), so the runtime's tests can drive it too.
 */

export type KvOperation =
  | { f: 'get'; key: string }
  | { f: 'put'; key: string; value: string }
  | { f: 'cas'; key: string; expected: string | null; next: string };

/** One client command: `clientId` + `seq` identify it across retries. */
export interface KvCommand {
  clientId: number;
  seq: number;
  op: KvOperation;
}

/** get: the value (null = absent); put: null; cas: whether it swapped. */
export type KvResult = string | null | boolean;

/** What applying a command did. `stale`: an older command of a client that already moved on. */
export type KvApplyOutcome =
  | { kind: 'applied'; result: KvResult }
  | { kind: 'duplicate'; result: KvResult }
  | { kind: 'stale' };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeKvCommand(command: KvCommand): Uint8Array {
  return encoder.encode(JSON.stringify(command));
}

export function decodeKvCommand(data: Uint8Array): KvCommand {
  return JSON.parse(decoder.decode(data)) as KvCommand;
}

interface Session {
  seq: number;
  result: KvResult;
}

export class KvStateMachine {
  private data = new Map<string, string>();
  /**
   * Last command and result per client. A real system must expire sessions
   * deterministically (e.g. by log index); the simulator has few clients, so it keeps all.
   */
  private sessions = new Map<number, Session>();

  /** Applies one committed command (the `data` of a normal log entry). */
  apply(command: Uint8Array): KvApplyOutcome {
    return this.applyCommand(decodeKvCommand(command));
  }

  applyCommand(cmd: KvCommand): KvApplyOutcome {
    const session = this.sessions.get(cmd.clientId);
    if (session && cmd.seq === session.seq) return { kind: 'duplicate', result: session.result };
    if (session && cmd.seq < session.seq) return { kind: 'stale' };
    const result = this.execute(cmd.op);
    this.sessions.set(cmd.clientId, { seq: cmd.seq, result });
    return { kind: 'applied', result };
  }

  /** Reads a key locally (after a ReadIndex barrier). */
  get(key: string): string | null {
    return this.data.get(key) ?? null;
  }

  snapshot(): Uint8Array {
    const image = {
      data: [...this.data.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
      sessions: [...this.sessions.entries()].sort(([a], [b]) => a - b),
    };
    return encoder.encode(JSON.stringify(image));
  }

  restore(image: Uint8Array): void {
    if (image.byteLength === 0) {
      this.data = new Map();
      this.sessions = new Map();
      return;
    }
    const parsed = JSON.parse(decoder.decode(image)) as {
      data: [string, string][];
      sessions: [number, Session][];
    };
    this.data = new Map(parsed.data);
    this.sessions = new Map(parsed.sessions);
  }

  private execute(op: KvOperation): KvResult {
    switch (op.f) {
      case 'get':
        return this.get(op.key);
      case 'put':
        this.data.set(op.key, op.value);
        return null;
      case 'cas': {
        if (this.get(op.key) !== op.expected) return false;
        this.data.set(op.key, op.next);
        return true;
      }
    }
  }
}
