import { createRequire } from 'node:module';

/**
 * The typed surface of `node-zookeeper-client` (it ships no types) — only what this backend
 * uses. The package is CommonJS, so it is loaded with `createRequire`.
 */

/** ZooKeeper's Stat; 64-bit fields arrive as 8-byte big-endian buffers. */
export interface ZkStat {
  czxid: Buffer;
  mzxid: Buffer;
  version: number;
  cversion: number;
  ephemeralOwner: Buffer;
  dataLength: number;
  numChildren: number;
}

export interface ZkEvent {
  type: number;
  name: string;
  path: string;
}

export type ZkWatcher = (event: ZkEvent) => void;

/** A ZooKeeper error as the client reports it: `code` is ZooKeeper's numeric error code. */
export interface ZkException extends Error {
  code: number;
  getCode(): number;
}

export interface ZkState {
  name: string;
  code: number;
}

/** One result of a multi (transaction): `stat` for setData, `path` for create, `err` for failures. */
export interface ZkOpResult {
  type: number;
  stat?: ZkStat;
  path?: string;
  err?: number;
}

export interface ZkTransaction {
  create(path: string, data: Buffer | null, mode: number): ZkTransaction;
  check(path: string, version: number): ZkTransaction;
  setData(path: string, data: Buffer | null, version: number): ZkTransaction;
  remove(path: string, version: number): ZkTransaction;
  commit(cb: (err: ZkException | null, results: ZkOpResult[]) => void): void;
}

export interface ZkAcl {
  permission: number;
}

/** A request as the client's jute module builds it: header and payload records. */
export interface JuteRequest {
  header: { xid?: number; type: number };
  payload: unknown;
  toBuffer(): Buffer;
}

/** The connection manager inside a client: the only internals this backend touches. */
export interface ZkConnectionManager {
  servers: { host: string; port: number }[];
  socket?: { destroy(): void; cork(): void; uncork(): void };
  /** Emits 'readable' on every request queued. */
  packetQueue: {
    on(event: 'readable', listener: () => void): void;
    removeAllListeners(event: 'readable'): void;
  };
  /** Writes every queued request to the socket (one write each). */
  onPacketQueueReadable(): void;
  connectTimeoutHandler?: NodeJS.Timeout | null;
  connect(): void;
  onSocketData(buffer: Buffer): void;
  findNextServer(cb: (server: { host: string; port: number }) => void): void;
  /** Sends `request` in order with every other request of the session (FIFO). */
  queue(request: JuteRequest, cb: (err: ZkException | null) => void): void;
}

export interface ZkClient {
  connectionManager: ZkConnectionManager;
  connect(): void;
  close(): void;
  getState(): ZkState;
  getSessionId(): Buffer;
  getSessionTimeout(): number;
  addAuthInfo(scheme: string, auth: Buffer): void;
  on(event: 'state', listener: (state: ZkState) => void): void;
  removeAllListeners(): void;
  create(
    path: string,
    data: Buffer | undefined,
    mode: number,
    cb: (err: ZkException | null, path: string) => void,
  ): void;
  create(
    path: string,
    data: Buffer | undefined,
    acls: ZkAcl[],
    mode: number,
    cb: (err: ZkException | null, path: string) => void,
  ): void;
  remove(path: string, version: number, cb: (err: ZkException | null) => void): void;
  setData(
    path: string,
    data: Buffer,
    version: number,
    cb: (err: ZkException | null, stat: ZkStat) => void,
  ): void;
  getData(
    path: string,
    watcher: ZkWatcher | undefined,
    cb: (err: ZkException | null, data: Buffer | undefined, stat: ZkStat) => void,
  ): void;
  exists(
    path: string,
    watcher: ZkWatcher | undefined,
    cb: (err: ZkException | null, stat: ZkStat | null) => void,
  ): void;
  getChildren(
    path: string,
    watcher: ZkWatcher | undefined,
    cb: (err: ZkException | null, children: string[], stat: ZkStat) => void,
  ): void;
  transaction(): ZkTransaction;
}

export interface ZkModule {
  createClient(
    connectionString: string,
    options: { sessionTimeout: number; spinDelay: number; retries: number },
  ): ZkClient;
  CreateMode: {
    PERSISTENT: number;
    EPHEMERAL: number;
    PERSISTENT_SEQUENTIAL: number;
    EPHEMERAL_SEQUENTIAL: number;
  };
  State: Record<
    'DISCONNECTED' | 'SYNC_CONNECTED' | 'AUTH_FAILED' | 'CONNECTED_READ_ONLY' | 'EXPIRED',
    ZkState
  >;
  Event: {
    NODE_CREATED: number;
    NODE_DELETED: number;
    NODE_DATA_CHANGED: number;
    NODE_CHILDREN_CHANGED: number;
  };
  Exception: Record<string, number>;
}

interface JuteModule {
  OP_CODES: Record<'SYNC' | 'DELETE', number>;
  Request: new (header: unknown, payload: unknown) => JuteRequest;
  protocol: {
    RequestHeader: new () => { xid?: number; type: number };
    GetACLRequest: new () => { path: string };
  };
}

const load = createRequire(import.meta.url);
export const zookeeper = load('node-zookeeper-client') as ZkModule;
const jute = load('node-zookeeper-client/lib/jute/index.js') as JuteModule;

export const CreateMode = zookeeper.CreateMode;
export const ZkEventType = zookeeper.Event;

/** ZooKeeper error codes this backend reacts to. */
export const ZkCode = {
  CONNECTION_LOSS: -4,
  OPERATION_TIMEOUT: -7,
  BAD_ARGUMENTS: -8,
  NO_NODE: -101,
  NO_AUTH: -102,
  BAD_VERSION: -103,
  NO_CHILDREN_FOR_EPHEMERALS: -108,
  NODE_EXISTS: -110,
  NOT_EMPTY: -111,
  SESSION_EXPIRED: -112,
  INVALID_ACL: -114,
  AUTH_FAILED: -115,
} as const;

/**
 * ZooKeeper's `sync(path)` (opcode 9), which node-zookeeper-client does not offer: the server
 * answers once it has applied every write the leader committed before it saw the sync, and it
 * answers a session's requests in order, so a read sent right after it sees them all
 * (ZooKeeper Programmer's Guide, "Consistency Guarantees"). The request is built from the
 * client's own jute records: a SyncRequest is a lone path, laid out exactly as a GetACLRequest.
 * The client decodes an answer by the type of the request it sent and drops the connection on
 * an opcode it does not know, so once the request is serialised its type reads as DELETE, whose
 * answer carries no payload; the SyncResponse's echo of the path is not needed.
 */
export function sendSync(client: ZkClient, path: string, cb: (err: ZkException | null) => void): void {
  const header = new jute.protocol.RequestHeader();
  const payload = new jute.protocol.GetACLRequest();
  payload.path = path;
  const request = new jute.Request(header, payload);
  const serialise = request.toBuffer.bind(request);
  request.toBuffer = () => {
    header.type = jute.OP_CODES.SYNC;
    const bytes = serialise();
    header.type = jute.OP_CODES.DELETE;
    return bytes;
  };
  header.type = jute.OP_CODES.SYNC;
  client.connectionManager.queue(request, cb);
}

/** The ZooKeeper error code of `err`, or undefined when it is not a ZooKeeper error. */
export function zkCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}
