/**
 * The token signing keys on disk: made once, rotated on demand.
 *
 *   keyDir/                  (0700)
 *   ├── token-keys.json      the source of truth (0600): the current key (PKCS#8 PEM) and its
 *   │                        certificate; after a rotation also the previous key's certificate
 *   │                        (public only), kept so tokens it signed stay verifiable
 *   ├── token-cert.pem       the certificates of the current and previous key (0644): what a
 *   │                        Distribution registry is given as `auth.token.rootcertbundle`
 *   └── token-jwks.json      the same public keys as a JWKS (0644): Distribution 3's `auth.token.jwks`
 *
 * The two derived files are rewritten from token-keys.json whenever they differ from it.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createFileAtomic, writeFileAtomic } from '../../lib/atomic-write.js';
import { errnoCode } from '../../lib/errno.js';
import { PRIVATE_FILE_MODE, PUBLIC_FILE_MODE } from '../../lib/file-modes.js';
import { keySetOf, newStoredKey, type KeySet } from './key-material.js';
import { keyFileSchema, type KeyFile } from './key-schema.js';
import type { SigningAlgorithm } from './types.js';
import { InternalError } from '../../lib/internal-errors.js';

export type { KeyFile, StoredKey } from './key-schema.js';

export const KEY_FILE = 'token-keys.json';
export const CERT_BUNDLE_FILE = 'token-cert.pem';
export const JWKS_FILE = 'token-jwks.json';

function serialize(file: KeyFile): string {
  return JSON.stringify(file, null, 2) + '\n';
}

/** A key file's text, checked against its schema. */
export function parseKeyFile(text: string, path: string): KeyFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new InternalError('RG_ERR_FILE_INVALID', `${path} is not JSON`);
  }
  const parsed = keyFileSchema.safeParse(json);
  if (!parsed.success) {
    throw new InternalError(
      'RG_ERR_FILE_INVALID',
      `${path} is not a registry-gate key file: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
    );
  }
  return parsed.data;
}

async function readKeyFile(path: string): Promise<KeyFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  }
  return parseKeyFile(text, path);
}

async function rewriteIfChanged(path: string, content: string): Promise<void> {
  const existing = await readFile(path, 'utf8').catch(() => undefined);
  if (existing !== content) await writeFileAtomic(path, content, { mode: PUBLIC_FILE_MODE });
}

/** Brings token-cert.pem and token-jwks.json in line with the keys. */
export async function writeDerivedFiles(dir: string, keys: KeySet): Promise<void> {
  const all = keys.previous ? [keys.current, keys.previous] : [keys.current];
  await rewriteIfChanged(join(dir, CERT_BUNDLE_FILE), all.map((key) => key.certificatePem.trim() + '\n').join(''));
  await rewriteIfChanged(join(dir, JWKS_FILE), JSON.stringify({ keys: all.map((key) => key.jwk) }, null, 2) + '\n');
}

/** Reads the key file in `dir`, creating a key of `algorithm` the first time. */
export async function loadOrCreateKeyFile(dir: string, algorithm: SigningAlgorithm): Promise<{ file: KeyFile; created: boolean }> {
  const path = join(dir, KEY_FILE);
  const existing = await readKeyFile(path);
  if (existing) return { file: existing, created: false };
  const file: KeyFile = { version: 1, current: await newStoredKey(algorithm, new Date()) };
  if (await createFileAtomic(path, serialize(file))) return { file, created: true };
  // Another process made one first; use theirs.
  const theirs = await readKeyFile(path);
  if (!theirs) throw new InternalError('RG_ERR_FILE_UNREADABLE', `${path} vanished while it was being created`);
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
