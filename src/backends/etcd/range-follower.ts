import { castGrpcErrorMessage, type Etcd3, type IEvent, type IWatchResponse } from 'etcd3';
import { Backoff } from '../../store/backoff.js';
import type { KVError } from '../../store/errors.js';
import { toKVError } from './etcd-errors.js';

export interface FollowHandlers {
  /** The events of one revision, in order. Called once per revision, revisions ascending. */
  onRevision(events: IEvent[]): void;
  /**
   * The history since the last revision seen was compacted away: read the current state
   * again and return the revision it was read at; following resumes right after it.
   */
  onCompacted(): Promise<number>;
  /** Following cannot go on (etcd cancelled the watch for another reason than compaction). */
  onFatal(error: KVError): void;
}

type StreamOutcome = 'reconnect' | 'compacted' | 'stopped' | { fatal: KVError };

/**
 * Follows one etcd key range from a revision, through reconnects and server restarts: each
 * revision's events are delivered once, in order, none lost and none repeated, because every
 * new watch stream starts right after the last revision delivered. If that revision was
 * compacted meanwhile, `onCompacted` re-reads the state and following goes on from there.
 * It stops, cancelling its gRPC stream and any backoff timer, when `signal` aborts.
 */
export function followRange(
  client: Etcd3,
  range: { key: Buffer; range_end?: Buffer },
  fromRevision: number,
  handlers: FollowHandlers,
  signal: AbortSignal,
): void {
  new RangeFollower(client, range, fromRevision, handlers, signal)
    .run()
    .catch((err: unknown) => handlers.onFatal(toKVError(err, 'watch')));
}

class RangeFollower {
  readonly #backoff = new Backoff({ initialMs: 50, maxMs: 1000 });
  #next: number;

  constructor(
    readonly client: Etcd3,
    readonly range: { key: Buffer; range_end?: Buffer },
    fromRevision: number,
    readonly handlers: FollowHandlers,
    readonly signal: AbortSignal,
  ) {
    this.#next = fromRevision;
  }

  async run(): Promise<void> {
    while (!this.signal.aborted) {
      const outcome = await this.#streamOnce();
      if (outcome === 'stopped' || this.signal.aborted) return;
      if (typeof outcome === 'object') {
        this.handlers.onFatal(outcome.fatal);
        return;
      }
      if (outcome === 'compacted') {
        try {
          this.#next = (await this.handlers.onCompacted()) + 1;
          this.#backoff.reset();
          continue;
        } catch {
          // Not reachable right now: back off and try again.
        }
      }
      try {
        await this.#backoff.wait(this.signal);
      } catch {
        return; // aborted while backing off
      }
    }
  }

  /** One watch stream from `#next`, until it breaks, is cancelled, or we stop. */
  async #streamOnce(): Promise<StreamOutcome> {
    let stream: Awaited<ReturnType<Etcd3['watchClient']['watch']>>;
    try {
      stream = await this.client.watchClient.watch();
    } catch {
      return this.signal.aborted ? 'stopped' : 'reconnect';
    }
    return new Promise<StreamOutcome>((resolve) => {
      let finished = false;
      const finish = (outcome: StreamOutcome) => {
        if (finished) return;
        finished = true;
        this.signal.removeEventListener('abort', onAbort);
        // end() first: etcd3 treats an error on a still-writable stream as a host failure.
        stream.end();
        stream.cancel();
        resolve(outcome);
      };
      const onAbort = () => finish('stopped');
      // The error listener stays for the stream's life: the cancel above emits one.
      stream.on('error', () => finish('reconnect'));
      stream.on('end', () => finish('reconnect'));
      stream.on('data', (res: IWatchResponse) => {
        if (finished) return;
        if (res.canceled) {
          if (Number(res.compact_revision) > 0) finish('compacted');
          else
            finish({
              fatal: toKVError(castGrpcErrorMessage(res.cancel_reason || 'watch cancelled'), 'watch'),
            });
          return;
        }
        if (res.created) {
          this.#backoff.reset();
          return;
        }
        this.#deliver(res.events);
      });
      if (this.signal.aborted) {
        finish('stopped');
        return;
      }
      this.signal.addEventListener('abort', onAbort, { once: true });
      stream.write({ create_request: { ...this.range, start_revision: this.#next } });
    });
  }

  /** Hands the events over one revision at a time and moves the resume point past them. */
  #deliver(events: IEvent[]): void {
    let start = 0;
    while (start < events.length) {
      const revision = events[start].kv.mod_revision;
      let end = start + 1;
      while (end < events.length && events[end].kv.mod_revision === revision) end++;
      this.#next = Number(revision) + 1;
      this.handlers.onRevision(events.slice(start, end));
      start = end;
    }
  }
}
