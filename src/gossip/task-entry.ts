/**
 * What one `endpoint_table` entry holds (libnetwork's EndpointRecord, in JSON): a running
 * task's service, slot and addresses on one network, keyed by task id. The publisher writes
 * it, DNS reads it; whatever arrives by gossip is checked before use.
 */

/** The table task entries live in (libnetwork's name). */
export const TASK_TABLE = 'endpoint_table';

export interface TaskEntry {
  serviceId: string;
  service: string;
  slot: number;
  /** The network's name (what DNS names carry). */
  network: string;
  /** Without prefix length. */
  addresses: string[];
  /** The service's virtual IP on this network (vip mode). */
  vip?: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeTaskEntry(entry: TaskEntry): Uint8Array {
  return encoder.encode(JSON.stringify(entry));
}

/** The entry, or null when the value is not one (malformed entries are skipped, never trusted). */
export function decodeTaskEntry(value: Uint8Array): TaskEntry | null {
  try {
    const e = JSON.parse(decoder.decode(value)) as TaskEntry;
    const ok =
      typeof e === 'object' &&
      e !== null &&
      typeof e.serviceId === 'string' &&
      typeof e.service === 'string' &&
      Number.isInteger(e.slot) &&
      typeof e.network === 'string' &&
      Array.isArray(e.addresses) &&
      e.addresses.every((a) => typeof a === 'string') &&
      (e.vip === undefined || typeof e.vip === 'string');
    return ok ? e : null;
  } catch {
    return null;
  }
}
