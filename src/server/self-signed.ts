/**
 * The first-run TLS pair (`tls: auto`): a self-signed certificate for every name a client on
 * another machine may use — localhost, this host's name, every address of this machine, and the
 * names `tls.auto.names` adds — kept under `dir` (folder 0700, files 0600) and made anew when that
 * set of names is no longer covered (a new address, a name added to the config).
 *
 *   dir/cert.pem, dir/key.pem          the pair the listener serves
 *   trustDir/ca.crt                    the certificate again, for clients' certificate folders
 *                                      (`skopeo --dest-cert-dir`, /etc/docker/certs.d/HOST:PORT/)
 */
import { X509Certificate } from 'node:crypto';
import { copyFile, mkdir, readFile, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { writeFileAtomic } from '../lib/atomic-write.js';
import { PRIVATE_DIR_MODE } from '../lib/file-modes.js';
import type { TlsFiles } from './tls.js';

const VALID_DAYS = 825;

export function certificateFingerprint(pem: string | Buffer): string {
  return new X509Certificate(pem).fingerprint256;
}

/** This machine's addresses a client can reach: every interface's, without link-local IPv6 (it needs a zone). */
export function machineAddresses(): string[] {
  const addresses = Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .filter((entry) => !(entry.family === 'IPv6' && entry.address.toLowerCase().startsWith('fe80:')))
    .map((entry) => entry.address);
  return [...new Set(addresses)];
}

/** Every name the certificate must carry, DNS names and IP addresses apart, sorted. */
export function certificateNames(extra: readonly string[]): { dns: string[]; ips: string[] } {
  const host = hostname();
  const all = ['localhost', ...(host ? [host] : []), '127.0.0.1', '::1', ...machineAddresses(), ...extra];
  const ips = [...new Set(all.filter((name) => isIP(name) !== 0).map(canonicalIp))].sort();
  const dns = [...new Set(all.filter((name) => isIP(name) === 0).map((name) => name.toLowerCase()))].sort();
  return { dns, ips };
}

/** IPv6 written as X509Certificate prints it (every group, no `::`), IPv4 as is. */
function canonicalIp(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  const [head = '', tail = ''] = ip.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return groups.map((group) => Number.parseInt(group, 16).toString(16).toUpperCase()).join(':');
}

/** The names a certificate carries, in the same form as certificateNames. */
function namesIn(pem: Buffer): { dns: string[]; ips: string[] } {
  const san = new X509Certificate(pem).subjectAltName ?? '';
  const entries = san.split(', ');
  const dns = entries.filter((entry) => entry.startsWith('DNS:')).map((entry) => entry.slice(4).toLowerCase());
  const ips = entries.filter((entry) => entry.startsWith('IP Address:')).map((entry) => canonicalIp(entry.slice('IP Address:'.length)));
  return { dns, ips };
}

function missingNames(have: { dns: string[]; ips: string[] }, want: { dns: string[]; ips: string[] }): string[] {
  return [...want.dns.filter((name) => !have.dns.includes(name)), ...want.ips.filter((ip) => !have.ips.includes(ip))];
}

async function readIfPair(files: TlsFiles): Promise<Buffer | undefined> {
  const exists = await stat(files.key).then(
    () => true,
    () => false,
  );
  return exists ? readFile(files.cert).catch(() => undefined) : undefined;
}

export interface SelfSignedPair {
  readonly files: TlsFiles;
  /** Why it was made now, when it was: `first run`, or the names that were missing. */
  readonly created: string | undefined;
  readonly fingerprint: string;
  readonly names: { dns: string[]; ips: string[] };
}

export function selfSignedFiles(dir: string): TlsFiles {
  return { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
}

/**
 * The other URLs a listener bound to every address (`0.0.0.0`, `::`) answers on: one per machine
 * address of the bound family (both for `::`), without the one already announced.
 */
export function otherListeningUrls(url: string, boundHost: string): string[] {
  const parsed = new URL(url);
  const wildcard = boundHost === '0.0.0.0' || boundHost === '::' || boundHost === '';
  if (!wildcard) return [];
  const families = boundHost === '0.0.0.0' ? [4] : [4, 6];
  return machineAddresses()
    .filter((address) => families.includes(isIP(address)))
    .map((address) => `${parsed.protocol}//${isIP(address) === 6 ? `[${address}]` : address}:${parsed.port}`)
    .filter((other) => other !== url);
}

export async function ensureSelfSignedPair(
  dir: string,
  options: { names?: readonly string[]; trustDir?: string } = {},
): Promise<SelfSignedPair> {
  const files = selfSignedFiles(dir);
  const want = certificateNames(options.names ?? []);
  const current = await readIfPair(files);
  const missing = current ? missingNames(namesIn(current), want) : [];
  let created: string | undefined;
  let cert = current;
  if (!current || missing.length > 0) {
    created = current ? `new names: ${missing.join(', ')}` : 'first run';
    cert = await generatePair(dir, files, want);
  }
  if (options.trustDir) {
    await mkdir(options.trustDir, { recursive: true, mode: PRIVATE_DIR_MODE });
    await copyFile(files.cert, join(options.trustDir, 'ca.crt'));
  }
  return { files, created, fingerprint: certificateFingerprint(cert as Buffer), names: want };
}

async function generatePair(dir: string, files: TlsFiles, names: { dns: string[]; ips: string[] }): Promise<Buffer> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const now = new Date();
  const pair = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now.getTime() - 60_000),
    notAfterDate: new Date(now.getTime() + VALID_DAYS * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [...names.dns.map((value) => ({ type: 2 as const, value })), ...names.ips.map((ip) => ({ type: 7 as const, ip }))],
      },
    ],
  });
  await writeFileAtomic(files.key, pair.private);
  await writeFileAtomic(files.cert, pair.cert);
  return Buffer.from(pair.cert);
}
