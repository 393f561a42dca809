import { type Etcd3, EtcdLeaseInvalidError } from 'etcd3';
import { CannotLockError, ClosedError } from '../../store/errors.js';
import { type LongTimeout, setLongTimeout } from '../../time/long-timeout.js';
import { toKVError } from './etcd-errors.js';

/** A lease kept alive by a {@link LeaseKeeper}. */
export interface KeptLease {
  readonly id: string;
  /** The TTL etcd granted (at least the one asked for), in ms. */
  readonly ttlMs: number;
  /** Aborts when the lease may have expired on the server, or the keeper closed. */
  readonly lost: AbortSignal;
}

type KeepAliveStream = Awaited<ReturnType<Etcd3['leaseClient']['leaseKeepAlive']>>;

interface Entry {
  lease: KeptLease;
  lose: AbortController;
  /** When the keep-alives still unanswered were sent, oldest first. */
  sentAt: number[];
  /** The next keep-alive; re-armed after each one (a TTL may exceed one setTimeout's reach). */
  refresh: LongTimeout;
  expiry: LongTimeout | null;
}

/**
 * Keeps a store's leases alive over one keep-alive stream, as etcd's own clients do: each
 * lease is refreshed every third of its TTL, and is declared lost (its signal aborts) a tenth
 * of its TTL before the latest time the server may expire it, judged from when the last
 * answered keep-alive was sent. So a holder learns it lost a lock before another can take it.
 */
export class LeaseKeeper {
  readonly #client: Etcd3;
  readonly #entries = new Map<string, Entry>();
  #stream: KeepAliveStream | null = null;
  #opening = false;
  #closed = false;

  constructor(client: Etcd3) {
    this.#client = client;
  }

  /** Grants a lease of at least `ttlMs` (whole seconds) and keeps it alive. */
  async grant(ttlMs: number): Promise<KeptLease> {
    const sentAt = Date.now();
    const granted = await this.#client.leaseClient.leaseGrant({ TTL: Math.ceil(ttlMs / 1000) });
    const lose = new AbortController();
    const lease: KeptLease = { id: granted.ID, ttlMs: Number(granted.TTL) * 1000, lost: lose.signal };
    if (this.#closed) {
      lose.abort(new ClosedError());
      return lease;
    }
    const refreshMs = Math.max(100, lease.ttlMs / 3);
    const entry: Entry = { lease, lose, sentAt: [], refresh: { cancel() {} }, expiry: null };
    const refresh = () => {
      entry.refresh = setLongTimeout(refresh, refreshMs, { unref: true });
      this.#keepAlive(entry);
    };
    entry.refresh = setLongTimeout(refresh, refreshMs, { unref: true });
    this.#entries.set(lease.id, entry);
    this.#armExpiry(entry, sentAt + lease.ttlMs);
    return lease;
  }

  /** Stops keeping the lease alive; it expires on the server after its TTL. */
  release(lease: KeptLease): void {
    const entry = this.#entries.get(lease.id);
    if (!entry) return;
    entry.refresh.cancel();
    entry.expiry?.cancel();
    this.#entries.delete(lease.id);
    if (this.#entries.size === 0) this.#closeStream();
  }

  /** Stops keeping the lease and revokes it, deleting its keys now. An expired lease is fine. */
  async revoke(lease: KeptLease): Promise<void> {
    this.release(lease);
    try {
      await this.#client.leaseClient.leaseRevoke({ ID: lease.id });
    } catch (err) {
      if (!(err instanceof EtcdLeaseInvalidError)) throw toKVError(err, 'lease revoke');
    }
  }

  /** Stops every keep-alive (the leases expire after their TTL) and aborts their signals. */
  close(): void {
    this.#closed = true;
    for (const entry of [...this.#entries.values()]) this.#lose(entry, new ClosedError());
    this.#closeStream();
  }

  #keepAlive(entry: Entry): void {
    const stream = this.#stream;
    if (!stream) {
      void this.#openStream();
      return;
    }
    entry.sentAt.push(Date.now());
    stream.write({ ID: entry.lease.id });
  }

  async #openStream(): Promise<void> {
    if (this.#opening || this.#stream || this.#closed) return;
    this.#opening = true;
    let stream: KeepAliveStream;
    try {
      stream = await this.#client.leaseClient.leaseKeepAlive();
    } catch {
      return; // the next refresh tick tries again
    } finally {
      this.#opening = false;
    }
    if (this.#closed || this.#entries.size === 0) {
      stream.on('error', () => {});
      stream.end();
      stream.cancel();
      return;
    }
    this.#stream = stream;
    const broken = () => {
      if (this.#stream === stream) this.#stream = null;
    };
    stream.on('error', broken);
    stream.on('end', broken);
    stream.on('data', (res) => this.#answered(res.ID, Number(res.TTL)));
    for (const entry of this.#entries.values()) {
      entry.sentAt = []; // requests on a broken stream get no answer
      this.#keepAlive(entry);
    }
  }

  #answered(id: string, ttlSeconds: number): void {
    const entry = this.#entries.get(id);
    if (!entry) return;
    const sentAt = entry.sentAt.shift();
    if (ttlSeconds <= 0) {
      this.#lose(entry, new CannotLockError(`lease ${id} expired on the server`));
      return;
    }
    if (sentAt !== undefined) this.#armExpiry(entry, sentAt + ttlSeconds * 1000);
  }

  #armExpiry(entry: Entry, expiresAt: number): void {
    entry.expiry?.cancel();
    const margin = entry.lease.ttlMs / 10;
    entry.expiry = setLongTimeout(
      () => this.#lose(entry, new CannotLockError(`lease ${entry.lease.id} was not renewed in time`)),
      expiresAt - margin - Date.now(),
      { unref: true },
    );
  }

  #lose(entry: Entry, reason: Error): void {
    this.release(entry.lease);
    entry.lose.abort(reason);
  }

  #closeStream(): void {
    const stream = this.#stream;
    this.#stream = null;
    if (!stream) return;
    stream.end();
    stream.cancel();
  }
}
