/**
 * TLS contexts: loaded from PEM files (a chain file works as the cert), re-read on SIGHUP and when
 * the files change, without dropping open connections. A new pair that does not load keeps the
 * old one and the log says why.
 */
import { X509Certificate, createHash } from 'node:crypto';
import { mkdir, readFile, stat, writeFile, rename } from 'node:fs/promises';
import { watchFile, unwatchFile } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Logger } from 'pino';
import { generate } from 'selfsigned';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../file-modes.js';

export const TLS_OPTIONS = { minVersion: 'TLSv1.2' } as const;

export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
}

export async function readTlsPair(files: TlsFiles): Promise<SecureContextOptions> {
  const [cert, key] = await Promise.all([readFile(files.cert), readFile(files.key)]);
  const options: SecureContextOptions = { cert, key, ...TLS_OPTIONS };
  createSecureContext(options); // throws when the pair is unusable or mismatched
  return options;
}

/** Re-reads the pair on demand and on file change; `apply` installs a good one. */
export class TlsReloader {
  readonly #files: TlsFiles;
  readonly #apply: (options: SecureContextOptions) => void;
  readonly #logger: Logger;
  #closed = false;

  constructor(files: TlsFiles, apply: (options: SecureContextOptions) => void, logger: Logger) {
    this.#files = files;
    this.#apply = apply;
    this.#logger = logger;
    const onChange = () => void this.reload('file change');
    watchFile(files.cert, { interval: 1000 }, onChange);
    watchFile(files.key, { interval: 1000 }, onChange);
  }

  async reload(reason: string): Promise<boolean> {
    if (this.#closed) return false;
    try {
      this.#apply(await readTlsPair(this.#files));
      this.#logger.info({ reason }, 'TLS certificate reloaded');
      return true;
    } catch (error) {
      this.#logger.error({ reason, problem: (error as Error).message }, 'TLS certificate reload failed; keeping the previous certificate');
      return false;
    }
  }

  close(): void {
    this.#closed = true;
    unwatchFile(this.#files.cert);
    unwatchFile(this.#files.key);
  }
}

export function certificateFingerprint(pem: string | Buffer): string {
  return new X509Certificate(pem).fingerprint256;
}

/**
 * The first-run pair: a self-signed certificate for localhost, 127.0.0.1, ::1 and this host's name,
 * generated once under `dir` (folder 0700, both files 0600: copy the certificate out to give it to
 * clients) and reused afterwards.
 */
export async function ensureSelfSignedPair(dir: string): Promise<{ files: TlsFiles; created: boolean; fingerprint: string }> {
  const files = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
  const exists = await stat(files.cert).then(() => stat(files.key)).then(() => true, () => false);
  if (exists) return { files, created: false, fingerprint: certificateFingerprint(await readFile(files.cert)) };
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const host = hostname();
  const now = new Date();
  const pair = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now.getTime() - 60_000),
    notAfterDate: new Date(now.getTime() + 825 * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          ...(host && host !== 'localhost' ? [{ type: 2 as const, value: host }] : []),
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  const suffix = `.${process.pid}.${createHash('sha256').update(pair.cert).digest('hex').slice(0, 8)}.tmp`;
  await writeFile(files.key + suffix, pair.private, { mode: PRIVATE_FILE_MODE });
  await writeFile(files.cert + suffix, pair.cert, { mode: PRIVATE_FILE_MODE });
  await rename(files.key + suffix, files.key);
  await rename(files.cert + suffix, files.cert);
  return { files, created: true, fingerprint: certificateFingerprint(pair.cert) };
}
