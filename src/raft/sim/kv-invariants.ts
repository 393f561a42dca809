import type { KvStateMachine } from '../kv/index.js';
import { InvariantViolation } from './invariants.js';
import type { AppliedCommand, SimNode } from './sim-node.js';

const decoder = new TextDecoder();

/**
 * Checks the replicated key space itself (kvkit's `KvStateMachine`, which every simulated
 * node runs), on top of the Raft invariants:
 * - State machine safety on the real machines: every node that applied index i holds the same
 *   state (revision, every key with value and revision, every lease) and got the same result;
 *   snapshot images taken at the same index are byte for byte equal; a node restored from a
 *   snapshot holds the state the others had at that index.
 * - At most once: client values are unique, so a value written at two log indexes is a
 *   request applied twice (the client sessions failed to deduplicate a retry).
 * - A retried request is answered from its session exactly as the first time.
 * - A key deleted by a lease revocation never comes back: its value is never written again,
 *   and no read invoked after the revocation applied returns it.
 */
export class KvInvariantChecker {
  /** State after each applied index, as a string. */
  private states = new Map<number, string>();
  /** Result of the command at each index. */
  private results = new Map<number, string>();
  private images = new Map<number, Uint8Array>();
  /** The index that wrote each value. */
  private writtenAt = new Map<string, number>();
  /** The first index of each (client, seq) and its result. */
  private requests = new Map<string, { index: number; result: string }>();
  /** Values deleted by a lease revocation: its log index and the virtual time it first applied. */
  private revokedAt = new Map<string, { index: number; time: number }>();
  readonly stats = {
    commandsApplied: 0,
    /** Retries that reached the log again and were answered from the session. */
    duplicatesAnswered: 0,
    /** Of those, retries whose answer the session had forgotten (refused as ALREADY_APPLIED). */
    duplicatesRefused: 0,
    leasesRevoked: 0,
    keysRevoked: 0,
    snapshotImagesCompared: 0,
  };

  constructor(private readonly now: () => number) {}

  onApplied(node: SimNode, index: number, command: AppliedCommand | null): void {
    this.checkState(node, index, 'after applying');
    if (!command) return;
    const result = JSON.stringify(command.result);
    const known = this.results.get(index);
    if (known !== undefined) {
      if (known !== result) {
        this.fail(`state machine safety: ${node.id} got ${result} at index ${index}, another node ${known}`);
      }
      return;
    }
    this.results.set(index, result);
    this.stats.commandsApplied++;
    this.checkSession(command, index, result);
    for (const event of command.events) {
      if (!event.state) continue;
      const value = decoder.decode(event.state.value);
      const at = this.writtenAt.get(value);
      if (at !== undefined) {
        this.fail(
          `at most once: value ${value} of ${event.key} was written at index ${at} and again at index ${index} ` +
            `(${describeRequest(command)})`,
        );
      }
      this.writtenAt.set(value, index);
    }
    if (command.request.cmd.op === 'leaseRevoke' && command.result.ok) this.stats.leasesRevoked++;
    for (const pair of command.revoked) {
      this.revokedAt.set(decoder.decode(pair.value), { index, time: this.now() });
      this.stats.keysRevoked++;
    }
  }

  onRestored(node: SimNode, index: number): void {
    this.checkState(node, index, 'after restoring a snapshot at');
    for (const pair of node.sm.list('')) {
      const value = decoder.decode(pair.value);
      const revoked = this.revokedAt.get(value);
      if (revoked && revoked.index <= index) {
        this.fail(
          `lease: ${node.id} restored ${pair.key}=${value} at index ${index}, revoked at index ${revoked.index}`,
        );
      }
    }
  }

  onSnapshotTaken(node: SimNode, index: number, image: Uint8Array): void {
    const known = this.images.get(index);
    if (!known) {
      this.images.set(index, image);
      return;
    }
    this.stats.snapshotImagesCompared++;
    if (!equalBytes(known, image)) {
      this.fail(
        `state machine safety: ${node.id}'s snapshot image at index ${index} differs from another node's`,
      );
    }
  }

  /** A client read `value` of `key` in a call invoked at `call`. */
  onRead(key: string, value: string | null, call: number): void {
    if (value === null) return;
    const revoked = this.revokedAt.get(value);
    if (revoked && revoked.time < call) {
      this.fail(
        `lease: a read of ${key} invoked at ${call.toFixed(1)} ms returned ${value}, ` +
          `revoked at index ${revoked.index} at ${revoked.time.toFixed(1)} ms`,
      );
    }
  }

  /** At the end: every member (all at the same applied index) has the same snapshot image. */
  checkSameImages(nodes: SimNode[]): void {
    const [first, ...rest] = nodes;
    if (!first) return;
    const image = first.sm.snapshot();
    for (const node of rest) {
      this.stats.snapshotImagesCompared++;
      if (node.appliedIndex !== first.appliedIndex) {
        this.fail(
          `${node.id} applied ${node.appliedIndex}, ${first.id} ${first.appliedIndex}: not converged`,
        );
      }
      if (!equalBytes(image, node.sm.snapshot())) {
        this.fail(
          `state machine safety: ${node.id} and ${first.id} both applied ${first.appliedIndex} but their ` +
            `snapshot images differ:\n  ${first.id}: ${describeState(first.sm)}\n  ${node.id}: ${describeState(node.sm)}`,
        );
      }
    }
  }

  private checkState(node: SimNode, index: number, how: string): void {
    const state = describeState(node.sm);
    const known = this.states.get(index);
    if (known === undefined) this.states.set(index, state);
    else if (known !== state) {
      this.fail(
        `state machine safety: ${node.id} ${how} index ${index} holds ${state}, another node ${known}`,
      );
    }
  }

  private checkSession(command: AppliedCommand, index: number, result: string): void {
    const { client, seq } = command.request;
    if (client === undefined) return;
    const key = `${client}:${seq}`;
    const first = this.requests.get(key);
    const refused = !command.result.ok && command.result.code === 'ALREADY_APPLIED';
    if (!first) {
      if (refused)
        this.fail(`session: request ${key} at index ${index} was refused as already applied, but never was`);
      this.requests.set(key, { index, result });
      return;
    }
    this.stats.duplicatesAnswered++;
    // The session may have forgotten the first answer, never that the request applied; a
    // forgotten `compact` (the sim's log-read barrier) is applied again, answering the revision now.
    if (refused) this.stats.duplicatesRefused++;
    else if (first.result !== result && command.request.cmd.op !== 'compact') {
      this.fail(
        `session: request ${key} was answered ${first.result} at index ${first.index} and ${result} when ` +
          `retried at index ${index}`,
      );
    }
  }

  private fail(message: string): never {
    throw new InvariantViolation(message);
  }
}

/** Revision, keys (value@revision) and leases: what every replica must agree on. */
export function describeState(sm: KvStateMachine): string {
  const keys = sm.list('').map((p) => `${p.key}=${decoder.decode(p.value)}@${p.lastIndex}`);
  const leases = sm.leases().map((l) => `${l.lease}:${l.ttlMs}`);
  return `r${sm.revision} {${keys.join(' ')}} leases [${leases.join(' ')}]`;
}

function describeRequest({ request }: AppliedCommand): string {
  const { cmd } = request;
  const session = request.client === undefined ? 'no session' : `client ${request.client} seq ${request.seq}`;
  return `${cmd.op}, ${session}`;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
