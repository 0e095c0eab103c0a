/**
 * The secret of a personal access token, in a shape secret scanners can recognise and check:
 *
 *   rgpat_ <32 base62 characters: 190 random bits> <6 base62 characters: CRC32 of what precedes>
 *
 * The prefix says what it is; the checksum lets a scanner (or this gateway) tell a token from
 * random text without asking anyone, as GitHub's `ghp_` tokens do. The gateway keeps only the
 * SHA-256 of a secret: with 190 random bits there is nothing to guess, so a slow hash would add
 * cost and no safety.
 */
import { createHash, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

export const PERSONAL_TOKEN_PREFIX = 'rgpat_';
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const RANDOM_LENGTH = 32;
const CHECKSUM_LENGTH = 6;
export const PERSONAL_TOKEN_LENGTH = PERSONAL_TOKEN_PREFIX.length + RANDOM_LENGTH + CHECKSUM_LENGTH;
const SHAPE = new RegExp(`^${PERSONAL_TOKEN_PREFIX}[0-9A-Za-z]{${RANDOM_LENGTH + CHECKSUM_LENGTH}}$`);

/** `length` characters drawn uniformly from the base62 alphabet (bytes past 247 are dropped: 248 = 4 × 62). */
function randomBase62(length: number): string {
  let text = '';
  while (text.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && text.length < length) text += ALPHABET.charAt(byte % 62);
    }
  }
  return text;
}

function checksum(body: string): string {
  let value = crc32(body);
  let text = '';
  for (let index = 0; index < CHECKSUM_LENGTH; index += 1) {
    text = ALPHABET.charAt(value % 62) + text;
    value = Math.floor(value / 62);
  }
  return text;
}

/** A new secret. */
export function newPersonalTokenSecret(): string {
  const body = PERSONAL_TOKEN_PREFIX + randomBase62(RANDOM_LENGTH);
  return body + checksum(body);
}

/** Whether a password has the shape of a personal token (prefix, length, alphabet); cheap, checks no checksum. */
export function looksLikePersonalToken(password: string): boolean {
  return password.startsWith(PERSONAL_TOKEN_PREFIX);
}

/** Whether `text` is a well-formed secret: the shape and a checksum that matches. */
export function isWellFormedPersonalToken(text: string): boolean {
  if (!SHAPE.test(text)) return false;
  const body = text.slice(0, -CHECKSUM_LENGTH);
  return checksum(body) === text.slice(-CHECKSUM_LENGTH);
}

/** What the store keeps of a secret. */
export function hashPersonalToken(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}
