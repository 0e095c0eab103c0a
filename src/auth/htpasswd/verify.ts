/**
 * Checking a password against one htpasswd hash, off the event loop for the costly formats
 * (bcrypt in libuv's thread pool, SHA-crypt and MD5-crypt in worker threads). Derived values are
 * compared in constant time on equal-length digests.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import bcrypt from 'bcrypt';
import { deriveCrypt } from './_crypt-pool.js';
import type { HashFormat, ParsedHash } from './formats.js';

/** Constant-time equality of two strings of any length: compares their SHA-256 digests. */
export function constantTimeEqual(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

function cryptSettings(hash: string): string {
  return hash.slice(0, hash.lastIndexOf('$'));
}

/** True when `password` matches `parsed`. Throws only if a hashing worker fails. */
export async function verifyPassword(parsed: ParsedHash, password: string): Promise<boolean> {
  // No htpasswd tool can produce a hash of a password containing NUL (they are C strings), and
  // native hashing code may stop at the NUL: refuse outright rather than match a prefix.
  if (password.includes('\0')) return false;
  const { format, hash } = parsed;
  switch (format) {
    case 'bcrypt':
      // node.bcrypt rejects the $2y$ spelling; $2y$, $2a$ and $2b$ hash identically in practice.
      return bcrypt.compare(password, '$2b$' + hash.slice(4));
    case 'apr1':
    case 'md5-crypt':
      return constantTimeEqual(await deriveCrypt({ scheme: 'md5-crypt', password, settings: cryptSettings(hash) }), hash);
    case 'sha256-crypt':
    case 'sha512-crypt':
      return constantTimeEqual(await deriveCrypt({ scheme: 'sha-crypt', password, settings: cryptSettings(hash) }), hash);
    case 'sha1': {
      const expected = Buffer.from(hash.slice('{SHA}'.length), 'base64');
      return timingSafeEqual(createHash('sha1').update(password, 'utf8').digest(), expected);
    }
    case 'ssha': {
      const decoded = Buffer.from(hash.slice('{SSHA}'.length), 'base64');
      const salt = decoded.subarray(20);
      const actual = createHash('sha1').update(password, 'utf8').update(salt).digest();
      return timingSafeEqual(actual, decoded.subarray(0, 20));
    }
  }
}

const SALT_ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function randomSalt(length: number): string {
  return Array.from(randomBytes(length), (byte) => SALT_ALPHABET[byte & 63]).join('');
}

async function makeDummy(format: HashFormat, cost: number): Promise<ParsedHash> {
  const password = randomBytes(18).toString('base64');
  switch (format) {
    case 'bcrypt':
      return { format, cost, hash: await bcrypt.hash(password, cost) };
    case 'apr1':
    case 'md5-crypt': {
      const settings = (format === 'apr1' ? '$apr1$' : '$1$') + randomSalt(8);
      return { format, cost, hash: await deriveCrypt({ scheme: 'md5-crypt', password, settings }) };
    }
    case 'sha256-crypt':
    case 'sha512-crypt': {
      const settings = `$${format === 'sha256-crypt' ? 5 : 6}$rounds=${cost}$${randomSalt(16)}`;
      return { format, cost, hash: await deriveCrypt({ scheme: 'sha-crypt', password, settings }) };
    }
    case 'sha1':
      return { format, cost, hash: '{SHA}' + createHash('sha1').update(password).digest('base64') };
    case 'ssha': {
      const salt = randomBytes(8);
      const digest = createHash('sha1').update(password).update(salt).digest();
      return { format, cost, hash: '{SSHA}' + Buffer.concat([digest, salt]).toString('base64') };
    }
  }
}

const dummies = new Map<string, Promise<ParsedHash>>();

/**
 * A hash of a random password in the given format and cost, made once per process. Checking an
 * unknown user's password against it costs what checking a known user's costs, so response time
 * does not tell which user names exist.
 */
export function dummyHash(format: HashFormat, cost: number): Promise<ParsedHash> {
  const key = `${format}:${cost}`;
  let dummy = dummies.get(key);
  if (!dummy) {
    dummy = makeDummy(format, cost);
    dummy.catch(() => dummies.delete(key));
    dummies.set(key, dummy);
  }
  return dummy;
}
