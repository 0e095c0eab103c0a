/**
 * TLS contexts: loaded from PEM files (a chain file works as the cert), re-read on SIGHUP and when
 * the files change, without dropping open connections (the one watched-file mechanism of
 * lib/watched-file.ts). A new pair that does not load keeps the old one and the log says why.
 */
import { readFile } from 'node:fs/promises';
import { createSecureContext, DEFAULT_CIPHERS, type SecureContextOptions } from 'node:tls';
import type { Logger } from 'pino';
import { WatchedFile } from '../lib/watched-file.js';

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
  return contextOptions(cert, key);
}

function contextOptions(cert: Buffer, key: Buffer): SecureContextOptions {
  const options: SecureContextOptions = { cert, key, ...TLS_OPTIONS };
  createSecureContext(options); // throws when the pair is unusable or mismatched
  return options;
}

/**
 * The pair in force, re-read on demand (SIGHUP) and when either file changes (lib/watched-file.ts);
 * `apply` installs a good new pair, a pair that does not load keeps the previous one.
 */
export class TlsReloader {
  readonly #file: WatchedFile<SecureContextOptions>;
  #reason: string | undefined;

  private constructor(file: WatchedFile<SecureContextOptions>, apply: (options: SecureContextOptions) => void, logger: Logger) {
    this.#file = file;
    file.onChange(() => {
      apply(file.current);
      logger.info({ reason: this.#reason ?? 'file change' }, 'TLS certificate reloaded');
    });
  }

  static async open(files: TlsFiles, apply: (options: SecureContextOptions) => void, logger: Logger): Promise<TlsReloader> {
    const file = await WatchedFile.open<SecureContextOptions>({
      file: files.cert,
      companions: [files.key],
      what: 'TLS certificate',
      logger,
      lastGoodName: 'the previous certificate',
      failureLevel: 'error',
      parse: (cert, { companions: [key] }) => contextOptions(cert, key ?? Buffer.alloc(0)),
    });
    return new TlsReloader(file, apply, logger);
  }

  /** Re-reads the pair now, whatever the files' stat says; `reason` is logged with the outcome. */
  async reload(reason: string): Promise<void> {
    this.#reason = reason;
    try {
      await this.#file.reload(true);
    } finally {
      this.#reason = undefined;
    }
  }

  close(): void {
    void this.#file.close();
  }
}
