import { webcrypto } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as X509 from '@peculiar/x509';
import { InvalidArgumentError } from '../../store/errors.js';
import { withReflectMetadata } from './reflect-metadata.js';
import { CERT_FILES } from './tls-material.js';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

let x509Loading: Promise<typeof X509> | null = null;

/** @peculiar/x509 (and its DI stack), loaded on the first certificate made, not with kvkit. */
function loadX509(): Promise<typeof X509> {
  x509Loading ??= withReflectMetadata(() => import('@peculiar/x509')).then((x509) => {
    x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
    return x509;
  });
  return x509Loading;
}

const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface PemPair {
  cert: string;
  key: string;
}

export interface ClusterCertificates {
  ca: PemPair;
  /** One certificate per node (CN and a DNS name = node id), plus `client` for CLI clients. */
  certs: Record<string, PemPair>;
}

export interface CertificateOptions {
  /** Node ids; each gets a certificate usable as TLS server and client. */
  nodes: string[];
  /** Extra DNS names or IP addresses for every node certificate (127.0.0.1 and localhost are always in). */
  hosts?: string[];
  /** Validity. Default 3650 days. */
  days?: number;
}

/** The name of the certificate `kvkit raft certs` issues for command-line clients. */
export const CLIENT_CERT_NAME = 'client';

/** Makes a cluster CA and a certificate per node (and one for clients), all in memory. */
export async function generateClusterCertificates(opts: CertificateOptions): Promise<ClusterCertificates> {
  const names = [...opts.nodes, CLIENT_CERT_NAME];
  for (const name of opts.nodes) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
      throw new InvalidArgumentError(
        `node id ${JSON.stringify(name)} cannot name a certificate (letters, digits, . _ -)`,
      );
    }
  }
  if (new Set(names).size !== names.length) {
    throw new InvalidArgumentError(`node ids must be distinct and not "${CLIENT_CERT_NAME}"`);
  }
  const x509 = await loadX509();
  const notBefore = new Date(Date.now() - DAY_MS);
  const notAfter = new Date(Date.now() + (opts.days ?? 3650) * DAY_MS);
  const caKeys = await generateKeys();
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: 'CN=kvkit cluster CA',
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const certs: Record<string, PemPair> = {};
  for (const name of names) {
    const keys = await generateKeys();
    const altNames: X509.JsonGeneralNames = [
      { type: 'dns', value: name },
      { type: 'dns', value: 'localhost' },
      { type: 'ip', value: '127.0.0.1' },
      ...(opts.hosts ?? []).map((h) => ({ type: isIp(h) ? ('ip' as const) : ('dns' as const), value: h })),
    ];
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${name}`,
      issuer: caCert.subject,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement,
          true,
        ),
        new x509.ExtendedKeyUsageExtension([
          x509.ExtendedKeyUsage.serverAuth,
          x509.ExtendedKeyUsage.clientAuth,
        ]),
        new x509.SubjectAlternativeNameExtension(altNames),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
      ],
    });
    certs[name] = { cert: cert.toString('pem'), key: await exportKey(x509, keys.privateKey) };
  }
  return { ca: { cert: caCert.toString('pem'), key: await exportKey(x509, caKeys.privateKey) }, certs };
}

/**
 * Writes `ca.crt`, `ca.key`, `<node>.crt`, `<node>.key` (and `client.*`) into `dir`. Keys are
 * readable by the owner only. Refuses to overwrite anything already there.
 */
export async function writeClusterCertificates(dir: string, opts: CertificateOptions): Promise<string[]> {
  const generated = await generateClusterCertificates(opts);
  const files: [string, string, number][] = [
    [CERT_FILES.caCert, generated.ca.cert, 0o644],
    [CERT_FILES.caKey, generated.ca.key, 0o600],
  ];
  for (const [name, pair] of Object.entries(generated.certs)) {
    files.push([CERT_FILES.cert(name), pair.cert, 0o644], [CERT_FILES.key(name), pair.key, 0o600]);
  }
  const existing = files.map(([f]) => join(dir, f)).filter((p) => existsSync(p));
  if (existing.length > 0) {
    throw new InvalidArgumentError(`refusing to overwrite existing files: ${existing.join(', ')}`);
  }
  mkdirSync(dir, { recursive: true });
  for (const [file, text, mode] of files) writeFileSync(join(dir, file), text, { mode, flag: 'wx' });
  return files.map(([f]) => join(dir, f));
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function exportKey(x509: typeof X509, key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

function serial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] &= 0x7f; // positive
  return Buffer.from(bytes).toString('hex');
}

function isIp(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':');
}
