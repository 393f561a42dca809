import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PeerCertificate, TlsOptions } from 'node:tls';
import { InvalidArgumentError } from '../../store/errors.js';

/** PEM material for mutual TLS: the cluster CA, and this node's certificate and key. */
export interface TlsMaterial {
  ca: string | Uint8Array;
  cert: string | Uint8Array;
  key: string | Uint8Array;
}

/** File names `kvkit raft certs` writes into its output directory. */
export const CERT_FILES = {
  caCert: 'ca.crt',
  caKey: 'ca.key',
  cert: (name: string) => `${name}.crt`,
  key: (name: string) => `${name}.key`,
} as const;

/** Reads `ca.crt`, `<name>.crt` and `<name>.key` from a directory made by `kvkit raft certs`. */
export function loadTlsDir(dir: string, name: string): TlsMaterial {
  const read = (file: string) => {
    try {
      return readFileSync(join(dir, file), 'utf8');
    } catch (err) {
      throw new InvalidArgumentError(`TLS: cannot read ${join(dir, file)}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  };
  return { ca: read(CERT_FILES.caCert), cert: read(CERT_FILES.cert(name)), key: read(CERT_FILES.key(name)) };
}

/** Server side of the peer port: only certificates signed by the cluster CA get in. */
export function mutualTlsServerOptions(m: TlsMaterial): TlsOptions {
  return { ca: pem(m.ca), cert: pem(m.cert), key: pem(m.key), requestCert: true, rejectUnauthorized: true };
}

/**
 * Client side of a peer connection: the server must hold a CA-signed certificate issued to
 * `expectedNodeId` (checked by name, so it works for any host address).
 */
export function mutualTlsClientOptions(m: TlsMaterial, expectedNodeId: string) {
  return {
    ca: pem(m.ca),
    cert: pem(m.cert),
    key: pem(m.key),
    rejectUnauthorized: true,
    checkServerIdentity: (_host: string, cert: PeerCertificate): Error | undefined => {
      const cn = certificateName(cert);
      return cn === expectedNodeId
        ? undefined
        : new Error(`certificate is issued to ${JSON.stringify(cn)}, expected node ${expectedNodeId}`);
    },
  };
}

/** The common name a certificate was issued to (node certificates carry the node id). */
export function certificateName(cert: PeerCertificate | null | undefined): string | null {
  const cn = cert?.subject?.CN;
  if (Array.isArray(cn)) return cn[0] ?? null;
  return typeof cn === 'string' ? cn : null;
}

function pem(v: string | Uint8Array): string {
  return typeof v === 'string' ? v : Buffer.from(v).toString('utf8');
}
