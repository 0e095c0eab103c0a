/**
 * Test certificates made at test time with the `openssl` CLI: a small CA and a server leaf signed
 * by it, so clients verify TLS for real by trusting the CA (never by turning verification off).
 *
 * Files written into `dir`:
 *
 *   dir/
 *   ├── ca.crt, ca.key          the CA (P-256, CA:TRUE, keyCertSign)
 *   ├── server.crt, server.key  the leaf (P-256, serverAuth, SAN = hosts)
 *   └── ca-only/ca.crt          a copy of the CA alone: the directory to hand to skopeo
 *                               (--cert-dir / --src-cert-dir / --dest-cert-dir)
 *
 * `ca-only/` exists because containers/image reads every file in a cert dir: `*.crt` are trusted
 * roots, and a `*.key` without its matching `*.cert` is an error ("missing client certificate").
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile, copyFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { Agent } from 'undici';
import { runProcess } from './process.js';

export interface TlsPair {
  certFile: string;
  keyFile: string;
  caFile: string;
  /** Directory containing only `ca.crt`, for skopeo's cert-dir flags. */
  caDir: string;
  certPem: string;
  keyPem: string;
  caPem: string;
}

export interface TlsPairOptions {
  /** DNS names and IP addresses for the leaf's subjectAltName. Default localhost, 127.0.0.1, ::1. */
  hosts?: string[];
  /** Validity in days. Default 2. */
  days?: number;
}

const DEFAULT_HOSTS = ['localhost', '127.0.0.1', '::1'];

async function openssl(args: string[], cwd: string): Promise<void> {
  const result = await runProcess('openssl', args, { cwd, timeoutMs: 30_000 });
  if (result.code !== 0) {
    throw new Error(`openssl ${args[0]} failed (code ${result.code}): ${result.stderr.trim()}`);
  }
}

function subjectAltName(hosts: readonly string[]): string {
  return hosts.map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
}

/** A CA and a server certificate signed by it, for `hosts`. Takes ~50 ms. */
export async function makeTlsPair(dir: string, options: TlsPairOptions = {}): Promise<TlsPair> {
  const hosts = options.hosts ?? DEFAULT_HOSTS;
  if (hosts.length === 0) throw new Error('makeTlsPair: hosts must not be empty');
  const days = String(options.days ?? 2);
  await mkdir(dir, { recursive: true });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

  await openssl(
    [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      days,
      '-subj',
      '/CN=registry-gate test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE,pathlen:0',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  await openssl(['req', '-new', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${hosts[0]}`], dir);
  await writeFile(
    join(dir, 'server.ext'),
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      `subjectAltName=${subjectAltName(hosts)}`,
      '',
    ].join('\n'),
  );
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-set_serial',
      `0x${randomBytes(8).toString('hex')}`,
      '-days',
      days,
      '-extfile',
      'server.ext',
      '-out',
      'server.crt',
    ],
    dir,
  );
  await rm(join(dir, 'server.csr'));
  await rm(join(dir, 'server.ext'));

  const caDir = join(dir, 'ca-only');
  await mkdir(caDir, { recursive: true });
  await copyFile(join(dir, 'ca.crt'), join(caDir, 'ca.crt'));

  const [certPem, keyPem, caPem] = await Promise.all(['server.crt', 'server.key', 'ca.crt'].map((f) => readFile(join(dir, f), 'utf8')));
  return {
    certFile: join(dir, 'server.crt'),
    keyFile: join(dir, 'server.key'),
    caFile: join(dir, 'ca.crt'),
    caDir,
    certPem: certPem!,
    keyPem: keyPem!,
    caPem: caPem!,
  };
}

/**
 * A self-signed certificate with no TLS purpose: the signing key of a Docker token service, whose
 * certificate Distribution is given as `auth.token.rootcertbundle`.
 */
export async function makeSigningCert(
  dir: string,
  name = 'token-signer',
): Promise<{ certFile: string; keyFile: string; certPem: string; keyPem: string }> {
  await mkdir(dir, { recursive: true });
  await openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
    ],
    dir,
  );
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  return { certFile, keyFile, certPem: await readFile(certFile, 'utf8'), keyPem: await readFile(keyFile, 'utf8') };
}

/** An undici dispatcher that trusts only `caPem` (for `request(url, { dispatcher })`). Close it in `after`. */
export function trustingAgent(caPem: string): Agent {
  return new Agent({ connect: { ca: caPem } });
}
