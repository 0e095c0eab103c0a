/**
 * Encryption at rest for what the OpenID Connect side must keep but nobody may read: the
 * provider's refresh tokens in the account store, and the login state a browser carries between
 * the login redirect and the callback (PKCE verifier, state, nonce).
 *
 * AES-256-GCM under a key derived (HKDF-SHA256) per purpose from one 32-byte key in
 * `dataDir/oidc/secret.key` (0600, made once by whichever process starts first, so every worker
 * and every restart shares it). The purpose is also the additional data: a value sealed for one
 * purpose (one user's refresh token) does not open as another's.
 *
 *   sealed = base64url( 12-byte IV | ciphertext | 16-byte tag )
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createFileAtomic } from '../../lib/atomic-write.js';

const KEY_FILE = 'secret.key';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class SecretBox {
  readonly #key: Buffer;
  readonly #derived = new Map<string, Buffer>();

  private constructor(key: Buffer) {
    this.#key = key;
  }

  /** Loads the key from `dir` (`secret.key`, or `fileName`), making it first if there is none. */
  static async open(dir: string, fileName = KEY_FILE): Promise<SecretBox> {
    const file = join(dir, fileName);
    await createFileAtomic(file, randomBytes(32).toString('hex') + '\n');
    const text = (await readFile(file, 'utf8')).trim();
    if (!/^[0-9a-f]{64}$/.test(text))
      throw new Error(`${file} is not an OpenID Connect secret key (64 hex digits); delete it to make a new one`);
    return new SecretBox(Buffer.from(text, 'hex'));
  }

  #keyFor(purpose: string): Buffer {
    const kind = purpose.split(':', 1)[0] as string;
    let key = this.#derived.get(kind);
    if (!key) {
      key = Buffer.from(hkdfSync('sha256', this.#key, Buffer.alloc(0), `registry-gate oidc ${kind}`, 32));
      this.#derived.set(kind, key);
    }
    return key;
  }

  /** `purpose` is `kind:binding` (`refresh-token:alice`): the kind picks the key, the whole is authenticated. */
  seal(purpose: string, plaintext: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#keyFor(purpose), iv);
    cipher.setAAD(Buffer.from(purpose, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
  }

  /** The plaintext, or undefined for anything that was not sealed here for this purpose. */
  open(purpose: string, sealed: string): string | undefined {
    const bytes = Buffer.from(sealed, 'base64url');
    if (bytes.length < IV_BYTES + TAG_BYTES) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#keyFor(purpose), bytes.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(purpose, 'utf8'));
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
      return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  }
}
