/**
 * The public keys of one signature policy: PEM files watched like the htpasswd file (the one
 * watched-file mechanism of src/lib/watched-file.ts). A file replaced by something that holds no
 * usable key keeps the last good keys and says so in the log; a file that cannot be read keeps them
 * too. Keys are node:crypto KeyObjects: ECDSA P-256, Ed25519, or RSA of 2048 bits and more.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { WatchedFile } from '../lib/watched-file.js';

const PEM_BLOCK = /-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g;
const MAX_KEYS_PER_FILE = 16;
const MIN_RSA_BITS = 2048;

/** Why `key` is not one this gateway verifies with, or undefined. */
function keyProblem(key: KeyObject): string | undefined {
  const details = key.asymmetricKeyDetails;
  switch (key.asymmetricKeyType) {
    case 'ed25519':
      return undefined;
    case 'ec':
      return details?.namedCurve === 'prime256v1' ? undefined : `an EC key on ${details?.namedCurve ?? 'an unknown curve'}, not P-256`;
    case 'rsa':
      return (details?.modulusLength ?? 0) >= MIN_RSA_BITS ? undefined : `an RSA key shorter than ${MIN_RSA_BITS} bits`;
    default:
      return `a key of type ${key.asymmetricKeyType ?? 'unknown'}`;
  }
}

/** The public keys a PEM file holds; throws when it holds none, or one that is not usable. */
export function parsePublicKeys(content: Buffer): KeyObject[] {
  const blocks = content.toString('utf8').match(PEM_BLOCK) ?? [];
  if (blocks.length === 0) throw new Error('no PEM public key (-----BEGIN PUBLIC KEY-----) in the file');
  if (blocks.length > MAX_KEYS_PER_FILE) throw new Error(`more than ${MAX_KEYS_PER_FILE} keys in one file`);
  return blocks.map((block) => {
    let key: KeyObject;
    try {
      key = createPublicKey({ key: block, format: 'pem' });
    } catch {
      throw new Error('a PEM block is not a public key');
    }
    const problem = keyProblem(key);
    if (problem) throw new Error(`${problem}: use ECDSA P-256, Ed25519 or RSA`);
    return key;
  });
}

/** The keys of one policy, from its files, each kept at its last good content. */
export class PolicyKeys {
  readonly #files: WatchedFile<KeyObject[]>[];

  private constructor(files: WatchedFile<KeyObject[]>[]) {
    this.#files = files;
  }

  /** Loads every file (a start or reload fails on one that is unusable), closing what it opened if one fails. */
  static async open(paths: readonly string[], policy: string, logger: Logger): Promise<PolicyKeys> {
    const files: WatchedFile<KeyObject[]>[] = [];
    try {
      for (const path of paths) {
        const what = `signature key file of policy ${policy}`;
        files.push(await WatchedFile.open({ file: path, what, logger, parse: parsePublicKeys, lastGoodName: 'the last good keys' }));
      }
    } catch (error) {
      await Promise.all(files.map((file) => file.close()));
      throw error;
    }
    return new PolicyKeys(files);
  }

  /** What is in force now, every file's keys together. */
  get current(): KeyObject[] {
    return this.#files.flatMap((file) => file.current);
  }

  /** Called after any file's keys changed. */
  onChange(listener: () => void): void {
    for (const file of this.#files) file.onChange(listener);
  }

  async close(): Promise<void> {
    await Promise.all(this.#files.map((file) => file.close()));
  }
}
