/**
 * Opaque catalog cursors. When a catalog page ends on a repository the caller may not see, the
 * `last` of its Link is a token instead of that name, so that no Link ever names a hidden
 * repository; the token is accepted back in `last`. It is the name, padded to a fixed length (so
 * its length says nothing either), encrypted and authenticated (AES-256-GCM, node:crypto) under a
 * key that never leaves the gateway: random per process, or derived from the secret the primary
 * hands to all its workers, so that any worker opens another's tokens. A token that does not open
 * (altered, made up, from another gateway or an earlier run) is refused with 400.
 *
 *   ~<base64url( 12-byte IV | the name, NUL-padded to a multiple of 256 bytes, encrypted | 16-byte tag )>
 *
 * `~` never starts a repository name, so a token is never taken for a name or the reverse.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { RegistryError } from '../oci/errors.js';

const PREFIX = '~';
const BLOCK = 256;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const TOKEN = /^~[A-Za-z0-9_-]+$/;

export interface CatalogCursors {
  /** The `last` of a Link whose cursor is a name the caller may not see. */
  seal(name: string): string;
  /** The backend name a `last` parameter stands for: a token opened, anything else as it is. */
  open(last: string): string;
}

function invalidCursor(): RegistryError {
  return new RegistryError(
    'PAGINATION_CURSOR_INVALID',
    'last is not a catalog cursor this registry gave out; start again from the first page',
  );
}

/** `secret`: shared by every process that must accept the same tokens; without it, a random per-process key. */
export function catalogCursors(secret?: Buffer): CatalogCursors {
  const key = secret ? Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'registry-gate catalog cursor', 32)) : randomBytes(32);
  return {
    seal(name) {
      const bytes = Buffer.from(name, 'utf8');
      const padded = Buffer.alloc(Math.max(1, Math.ceil(bytes.length / BLOCK)) * BLOCK);
      bytes.copy(padded);
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const sealed = Buffer.concat([iv, cipher.update(padded), cipher.final(), cipher.getAuthTag()]);
      return PREFIX + sealed.toString('base64url');
    },
    open(last) {
      if (!last.startsWith(PREFIX)) return last;
      if (!TOKEN.test(last)) throw invalidCursor();
      const sealed = Buffer.from(last.slice(PREFIX.length), 'base64url');
      const length = sealed.length - IV_BYTES - TAG_BYTES;
      if (length < BLOCK || length % BLOCK !== 0) throw invalidCursor();
      const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES));
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
      let padded: Buffer;
      try {
        padded = Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
      } catch {
        throw invalidCursor();
      }
      const end = padded.indexOf(0);
      return padded.subarray(0, end === -1 ? padded.length : end).toString('utf8');
    },
  };
}
