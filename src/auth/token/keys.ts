/**
 * The token signing keys: made once, kept on disk, rotated on demand.
 *
 *   keyDir/                  (0700)
 *   ├── token-keys.json      the source of truth (0600): the current key (PKCS#8 PEM) and its
 *   │                        certificate; after a rotation also the previous key's certificate
 *   │                        (public only), kept so tokens it signed stay verifiable
 *   ├── token-cert.pem       the certificates of the current and previous key (0644): what a
 *   │                        Distribution registry is given as `auth.token.rootcertbundle`
 *   └── token-jwks.json      the same public keys as a JWKS (0644): Distribution 3's `auth.token.jwks`
 *
 * `kid` is the RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key: Distribution 3
 * looks keys up by exactly that. Each key also has a self-signed X.509 certificate, sent in every
 * token's `x5c` header: Distribution 2.8 verifies that chain against its rootcertbundle (it reads
 * `kid` as a libtrust fingerprint, which no RFC 7638 thumbprint is). The two derived files are
 * rewritten from token-keys.json whenever they differ from it.
 */
import { X509Certificate, createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { errnoCode } from '../../lib/errno.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import type { Logger } from 'pino';
import { generate } from 'selfsigned';
import { z } from 'zod';
import { createFileAtomic, writeFileAtomic } from '../../lib/atomic-write.js';
import { PRIVATE_FILE_MODE, PUBLIC_FILE_MODE } from '../../lib/file-modes.js';
import { FileWatch, type FileWatchOptions } from '../file-watch.js';

import { SIGNING_ALGORITHMS, type SigningAlgorithm } from './types.js';

export { SIGNING_ALGORITHMS, type SigningAlgorithm } from './types.js';

export const KEY_FILE = 'token-keys.json';
export const CERT_BUNDLE_FILE = 'token-cert.pem';
export const JWKS_FILE = 'token-jwks.json';

/** Certificates are valid this long; rotate before (Distribution checks the dates). */
const CERTIFICATE_YEARS = 10;
/** Certificates start this early, for registries whose clock is behind ours. */
const CERTIFICATE_BACKDATE_MS = 3_600_000;

export interface SigningKey {
  readonly kid: string;
  readonly algorithm: SigningAlgorithm;
  readonly publicKey: KeyObject;
  /** The public key as a JWK with `kid`, `alg`, `use` and `x5c`. */
  readonly jwk: JWK;
  readonly certificatePem: string;
  /** Base64 (not base64url) DER, as the `x5c` header wants it. */
  readonly certificateDer: string;
  readonly created: Date;
  /** When it stopped signing (previous key only). */
  readonly retired?: Date;
}

export interface CurrentSigningKey extends SigningKey {
  readonly privateKey: KeyObject;
}

const storedKey = z.strictObject({
  kid: z.string().min(1),
  algorithm: z.enum(SIGNING_ALGORITHMS),
  created: z.iso.datetime(),
  certificate: z.string().min(1),
});
const keyFileSchema = z.strictObject({
  version: z.literal(1),
  current: storedKey.extend({ privateKey: z.string().min(1) }),
  previous: storedKey.extend({ retired: z.iso.datetime() }).optional(),
});
type KeyFile = z.infer<typeof keyFileSchema>;

interface KeySet {
  readonly current: CurrentSigningKey;
  readonly previous: SigningKey | undefined;
}

const generateKeyPairAsync = promisify(generateKeyPair);

async function newStoredKey(algorithm: SigningAlgorithm, now: Date): Promise<KeyFile['current']> {
  const pair =
    algorithm === 'ES256'
      ? await generateKeyPairAsync('ec', { namedCurve: 'P-256' })
      : await generateKeyPairAsync('rsa', { modulusLength: 2048 });
  const privateKey = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const publicKey = pair.publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const notAfter = new Date(now);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + CERTIFICATE_YEARS);
  const certificate = await generate([{ name: 'commonName', value: 'registry-gate token signer' }], {
    keyType: algorithm === 'ES256' ? 'ec' : 'rsa',
    ...(algorithm === 'ES256' ? { curve: 'P-256' as const } : { keySize: 2048 }),
    algorithm: 'sha256',
    keyPair: { privateKey, publicKey },
    notBeforeDate: new Date(now.getTime() - CERTIFICATE_BACKDATE_MS),
    notAfterDate: notAfter,
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
    ],
  });
  const kid = await thumbprintOf(pair.publicKey);
  return { kid, algorithm, created: now.toISOString(), certificate: certificate.cert, privateKey };
}

async function thumbprintOf(publicKey: KeyObject): Promise<string> {
  return calculateJwkThumbprint(await exportJWK(publicKey), 'sha256');
}

async function publicKeyOf(stored: z.infer<typeof storedKey>, retired?: string): Promise<SigningKey> {
  const certificate = new X509Certificate(stored.certificate);
  const publicKey = certificate.publicKey;
  const kid = await thumbprintOf(publicKey);
  if (kid !== stored.kid) throw new Error(`key ${stored.kid}: its certificate holds another key (${kid})`);
  const expectedType = stored.algorithm === 'ES256' ? 'ec' : 'rsa';
  if (publicKey.asymmetricKeyType !== expectedType) throw new Error(`key ${stored.kid} is not an ${stored.algorithm} key`);
  const certificateDer = certificate.raw.toString('base64');
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: stored.algorithm, use: 'sig', x5c: [certificateDer] };
  return {
    kid,
    algorithm: stored.algorithm,
    publicKey,
    jwk,
    certificatePem: certificate.toString(),
    certificateDer,
    created: new Date(stored.created),
    ...(retired === undefined ? {} : { retired: new Date(retired) }),
  };
}

async function keySetOf(file: KeyFile): Promise<KeySet> {
  const current = await publicKeyOf(file.current);
  const privateKey = createPrivateKey(file.current.privateKey);
  if (!createPublicKey(privateKey).equals(current.publicKey))
    throw new Error(`key ${file.current.kid}: the private key does not match its certificate`);
  const previous = file.previous ? await publicKeyOf(file.previous, file.previous.retired) : undefined;
  return { current: { ...current, privateKey }, previous };
}

function serialize(file: KeyFile): string {
  return JSON.stringify(file, null, 2) + '\n';
}

async function readKeyFile(path: string): Promise<KeyFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${path} is not JSON`);
  }
  const parsed = keyFileSchema.safeParse(json);
  if (!parsed.success) throw new Error(`${path} is not a registry-gate key file: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

async function rewriteIfChanged(path: string, content: string): Promise<void> {
  const existing = await readFile(path, 'utf8').catch(() => undefined);
  if (existing !== content) await writeFileAtomic(path, content, { mode: PUBLIC_FILE_MODE });
}

async function writeDerivedFiles(dir: string, keys: KeySet): Promise<void> {
  const all = keys.previous ? [keys.current, keys.previous] : [keys.current];
  await rewriteIfChanged(join(dir, CERT_BUNDLE_FILE), all.map((key) => key.certificatePem.trim() + '\n').join(''));
  await rewriteIfChanged(join(dir, JWKS_FILE), JSON.stringify({ keys: all.map((key) => key.jwk) }, null, 2) + '\n');
}

/** Reads the key file in `dir`, creating a key of `algorithm` the first time; writes the derived files. */
async function loadOrCreate(dir: string, algorithm: SigningAlgorithm): Promise<{ file: KeyFile; created: boolean }> {
  const path = join(dir, KEY_FILE);
  const existing = await readKeyFile(path);
  if (existing) return { file: existing, created: false };
  const file: KeyFile = { version: 1, current: await newStoredKey(algorithm, new Date()) };
  if (await createFileAtomic(path, serialize(file))) return { file, created: true };
  // Another process made one first; use theirs.
  const theirs = await readKeyFile(path);
  if (!theirs) throw new Error(`${path} vanished while it was being created`);
  return { file: theirs, created: false };
}

/**
 * Makes a new current key of `algorithm`; the old current key becomes the previous one (its
 * private key is dropped; its certificate stays in the bundle and the JWKS), and any older key is
 * forgotten. Returns the new and the retired key ids.
 */
export async function rotateSigningKey(
  dir: string,
  algorithm: SigningAlgorithm,
): Promise<{ kid: string; previousKid: string | undefined }> {
  const path = join(dir, KEY_FILE);
  const existing = await readKeyFile(path);
  const now = new Date();
  const next = await newStoredKey(algorithm, now);
  const file: KeyFile = existing
    ? {
        version: 1,
        current: next,
        previous: {
          kid: existing.current.kid,
          algorithm: existing.current.algorithm,
          created: existing.current.created,
          certificate: existing.current.certificate,
          retired: now.toISOString(),
        },
      }
    : { version: 1, current: next };
  await writeFileAtomic(path, serialize(file), { mode: PRIVATE_FILE_MODE });
  await writeDerivedFiles(dir, await keySetOf(file));
  return { kid: next.kid, previousKid: existing?.current.kid };
}

export interface SigningKeysOptions {
  /** Where the key files live (created 0700 if missing). */
  readonly dir: string;
  /** The algorithm of a key made here; an existing key of another algorithm is an error (rotate to switch). */
  readonly algorithm: SigningAlgorithm;
  readonly logger?: Logger;
  /** Re-read the key file when it changes (a `token rotate-key` from the command line); default on. */
  readonly watch?: boolean | FileWatchOptions;
}

/** The loaded keys, re-read when the key file changes; a reload that fails keeps the last good keys. */
export class SigningKeys {
  readonly dir: string;
  readonly keyFile: string;
  readonly certBundleFile: string;
  readonly jwksFile: string;
  private keys: KeySet;
  private watcher: FileWatch | undefined;
  private lastFailure: string | undefined;
  private readonly listeners = new Set<() => void>();

  private constructor(
    dir: string,
    keys: KeySet,
    private readonly logger: Logger | undefined,
    private readonly algorithm: SigningAlgorithm,
  ) {
    this.dir = dir;
    this.keyFile = join(dir, KEY_FILE);
    this.certBundleFile = join(dir, CERT_BUNDLE_FILE);
    this.jwksFile = join(dir, JWKS_FILE);
    this.keys = keys;
  }

  static async open(options: SigningKeysOptions): Promise<SigningKeys> {
    const { file, created } = await loadOrCreate(options.dir, options.algorithm);
    if (file.current.algorithm !== options.algorithm) {
      throw new Error(
        `${join(options.dir, KEY_FILE)} holds an ${file.current.algorithm} key but ${options.algorithm} is configured; ` +
          `switch with "registry-gate token rotate-key --algorithm ${options.algorithm}"`,
      );
    }
    const keys = await keySetOf(file);
    await writeDerivedFiles(options.dir, keys);
    const signingKeys = new SigningKeys(options.dir, keys, options.logger, options.algorithm);
    if (created)
      options.logger?.info({ kid: keys.current.kid, algorithm: options.algorithm, dir: options.dir }, 'token signing key created');
    if (options.watch !== false) {
      signingKeys.watcher = new FileWatch(
        signingKeys.keyFile,
        () => signingKeys.load(),
        options.watch === true || options.watch === undefined ? {} : options.watch,
      );
      await signingKeys.watcher.prime();
    }
    return signingKeys;
  }

  /** The key new tokens are signed with. */
  get current(): CurrentSigningKey {
    return this.keys.current;
  }

  /** The retired key, if a rotation kept one. */
  get previous(): SigningKey | undefined {
    return this.keys.previous;
  }

  /** The current or previous key with this `kid`. */
  lookup(kid: string | undefined): SigningKey | undefined {
    if (kid === undefined) return undefined;
    if (kid === this.keys.current.kid) return this.keys.current;
    return kid === this.keys.previous?.kid ? this.keys.previous : undefined;
  }

  /** The algorithms of the keys in use (what verification accepts). */
  get algorithms(): SigningAlgorithm[] {
    return [...new Set([this.keys.current.algorithm, ...(this.keys.previous ? [this.keys.previous.algorithm] : [])])];
  }

  /** The public keys as a JWKS document. */
  jwks(): { keys: JWK[] } {
    return { keys: [this.keys.current, ...(this.keys.previous ? [this.keys.previous] : [])].map((key) => key.jwk) };
  }

  /** Rotates to a new key of the configured algorithm (see rotateSigningKey) and uses it at once. */
  async rotate(): Promise<string> {
    const { kid } = await rotateSigningKey(this.dir, this.algorithm);
    await this.load();
    return kid;
  }

  /** Re-reads the key file now if it changed, or whatever its stat says with `force`. */
  reload(force = false): Promise<void> {
    return this.watcher ? this.watcher.check(force) : this.load();
  }

  /** Called after the keys in use changed (a rotation). Returns a function that removes the listener. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await this.watcher?.close();
  }

  private async load(): Promise<void> {
    try {
      const file = await readKeyFile(this.keyFile);
      if (!file) throw new Error('the key file is missing');
      const keys = await keySetOf(file);
      const rotated = keys.current.kid !== this.keys.current.kid;
      const changed = rotated || keys.previous?.kid !== this.keys.previous?.kid;
      this.keys = keys;
      await writeDerivedFiles(this.dir, keys);
      if (rotated) this.logger?.info({ kid: keys.current.kid, previousKid: keys.previous?.kid }, 'token signing key rotated');
      if (changed) for (const listener of this.listeners) listener();
      if (keys.current.algorithm !== this.algorithm) {
        this.logger?.warn(
          { algorithm: keys.current.algorithm, configured: this.algorithm },
          'the signing key is not of the configured algorithm',
        );
      }
      this.lastFailure = undefined;
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (reason !== this.lastFailure)
        this.logger?.error({ file: this.keyFile, err: reason }, 'token key reload failed; keeping the last good keys');
      this.lastFailure = reason;
    }
  }
}
