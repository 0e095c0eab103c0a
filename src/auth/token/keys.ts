/**
 * The token signing keys in use: read from the key file (./key-file.ts, made the first time) and
 * re-read when it changes (a `token rotate-key` from the command line, another replica's rotation);
 * a re-read that fails keeps the last good keys (lib/watched-file.ts).
 */
import { join } from 'node:path';
import type { JWK } from 'jose';
import type { Logger } from 'pino';
import { WatchedFile, type FileWatchOptions } from '../../lib/watched-file.js';
import {
  CERT_BUNDLE_FILE,
  JWKS_FILE,
  KEY_FILE,
  loadOrCreateKeyFile,
  parseKeyFile,
  rotateSigningKey,
  writeDerivedFiles,
} from './key-file.js';
import { keySetOf, type CurrentSigningKey, type KeySet, type SigningKey } from './key-material.js';
import type { SigningAlgorithm } from './types.js';
import { InternalError } from '../../lib/internal-errors.js';

export { SIGNING_ALGORITHMS, type SigningAlgorithm } from './types.js';
export { CERT_BUNDLE_FILE, JWKS_FILE, KEY_FILE, rotateSigningKey } from './key-file.js';
export type { CurrentSigningKey, SigningKey } from './key-material.js';

export interface SigningKeysOptions {
  /** Where the key files live (created 0700 if missing). */
  readonly dir: string;
  /** The algorithm of a key made here; an existing key of another algorithm is an error (rotate to switch). */
  readonly algorithm: SigningAlgorithm;
  readonly logger?: Logger;
  /** Re-read the key file when it changes (a `token rotate-key` from the command line); default on. */
  readonly watch?: boolean | FileWatchOptions;
}

function watchOptions(watch: SigningKeysOptions['watch']): FileWatchOptions {
  if (watch === false) return { poll: false, watch: false };
  return watch === true || watch === undefined ? {} : watch;
}

/** The loaded keys, re-read when the key file changes; a reload that fails keeps the last good keys. */
export class SigningKeys {
  readonly dir: string;
  readonly keyFile: string;
  readonly certBundleFile: string;
  readonly jwksFile: string;
  readonly #algorithm: SigningAlgorithm;
  readonly #listeners = new Set<() => void>();
  #file!: WatchedFile<KeySet>;

  private constructor(dir: string, algorithm: SigningAlgorithm) {
    this.dir = dir;
    this.keyFile = join(dir, KEY_FILE);
    this.certBundleFile = join(dir, CERT_BUNDLE_FILE);
    this.jwksFile = join(dir, JWKS_FILE);
    this.#algorithm = algorithm;
  }

  static async open(options: SigningKeysOptions): Promise<SigningKeys> {
    const { dir, algorithm, logger } = options;
    const { file, created } = await loadOrCreateKeyFile(dir, algorithm);
    if (file.current.algorithm !== algorithm) {
      throw new InternalError(
        'RG_ERR_KEY_ALGORITHM_MISMATCH',
        `${join(dir, KEY_FILE)} holds an ${file.current.algorithm} key but ${algorithm} is configured; ` +
          `switch with "registry-gate token rotate-key --algorithm ${algorithm}"`,
      );
    }
    const keys = new SigningKeys(dir, algorithm);
    keys.#file = await WatchedFile.open<KeySet>({
      file: keys.keyFile,
      what: 'token key',
      ...(logger ? { logger } : {}),
      lastGoodName: 'the last good keys',
      failureLevel: 'error',
      ...watchOptions(options.watch),
      parse: async (content) => {
        const loaded = await keySetOf(parseKeyFile(content.toString('utf8'), keys.keyFile));
        await writeDerivedFiles(dir, loaded);
        return loaded;
      },
    });
    if (created) logger?.info({ kid: keys.current.kid, algorithm, dir }, 'token signing key created');
    let inUse = keys.#file.current;
    keys.#file.onChange(() => {
      const before = inUse;
      inUse = keys.#file.current;
      const rotated = inUse.current.kid !== before.current.kid;
      if (rotated) logger?.info({ kid: inUse.current.kid, previousKid: inUse.previous?.kid }, 'token signing key rotated');
      if (inUse.current.algorithm !== algorithm)
        logger?.warn({ algorithm: inUse.current.algorithm, configured: algorithm }, 'the signing key is not of the configured algorithm');
      if (rotated || inUse.previous?.kid !== before.previous?.kid) for (const listener of keys.#listeners) listener();
    });
    return keys;
  }

  /** The key new tokens are signed with. */
  get current(): CurrentSigningKey {
    return this.#file.current.current;
  }

  /** The retired key, if a rotation kept one. */
  get previous(): SigningKey | undefined {
    return this.#file.current.previous;
  }

  /** The current or previous key with this `kid`. */
  lookup(kid: string | undefined): SigningKey | undefined {
    if (kid === undefined) return undefined;
    if (kid === this.current.kid) return this.current;
    return kid === this.previous?.kid ? this.previous : undefined;
  }

  /** The algorithms of the keys in use (what verification accepts). */
  get algorithms(): SigningAlgorithm[] {
    return [...new Set([this.current.algorithm, ...(this.previous ? [this.previous.algorithm] : [])])];
  }

  /** The public keys as a JWKS document. */
  jwks(): { keys: JWK[] } {
    return { keys: [this.current, ...(this.previous ? [this.previous] : [])].map((key) => key.jwk) };
  }

  /** Rotates to a new key of the configured algorithm (see rotateSigningKey) and uses it at once. */
  async rotate(): Promise<string> {
    const { kid } = await rotateSigningKey(this.dir, this.#algorithm);
    await this.#file.reload(true);
    return kid;
  }

  /** Re-reads the key file now if it changed, or whatever its stat says with `force`. */
  reload(force = false): Promise<void> {
    return this.#file.reload(force);
  }

  /** Called after the keys in use changed (a rotation). Returns a function that removes the listener. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    await this.#file.close();
  }
}
