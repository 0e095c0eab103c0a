/**
 * TLS contexts: loaded from PEM files (a chain file works as the cert), re-read on SIGHUP and when
 * the files change, without dropping open connections. A new pair that does not load keeps the
 * old one and the log says why.
 */
import { readFile } from 'node:fs/promises';
import { watchFile, unwatchFile } from 'node:fs';
import { createSecureContext, DEFAULT_CIPHERS, type SecureContextOptions } from 'node:tls';
import type { Logger } from 'pino';

/**
 * Node's cipher list with TLS_AES_128_GCM_SHA256 moved to the front. Node's server picks by its own
 * order, and its default puts AES-256-GCM first; Go's crypto/tls (Distribution, and the docker,
 * containerd, podman and skopeo clients) prefers AES-128-GCM on CPUs with AES instructions, which
 * costs about 5 % less CPU per byte pulled on each end (docs/benchmarks.md). TLS 1.2 suites stay in
 * Node's order, which already starts with AES-128-GCM.
 */
const PREFERRED_FIRST = 'TLS_AES_128_GCM_SHA256';
const CIPHERS = [PREFERRED_FIRST, ...DEFAULT_CIPHERS.split(':').filter((name) => name !== PREFERRED_FIRST)].join(':');

export const TLS_OPTIONS = { minVersion: 'TLSv1.2', ciphers: CIPHERS } as const;

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
      this.#logger.error({ reason, err: error }, 'TLS certificate reload failed; keeping the previous certificate');
      return false;
    }
  }

  close(): void {
    this.#closed = true;
    unwatchFile(this.#files.cert);
    unwatchFile(this.#files.key);
  }
}
