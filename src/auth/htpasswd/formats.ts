/**
 * Recognising the hash formats found in htpasswd files (Apache htpasswd, nginx, openssl passwd).
 *
 * Supported: bcrypt ($2y$/$2a$/$2b$), Apache MD5 ($apr1$), MD5-crypt ($1$), SHA-crypt ($5$/$6$, with
 * rounds=), {SHA} (unsalted SHA-1) and {SSHA} (salted SHA-1, which nginx accepts).
 * Refused on purpose: crypt(3) DES (only the first 8 characters count and a 12-bit salt: cracked in
 * seconds) and plaintext ({PLAIN}, or Apache's -p): both would turn a leaked file into leaked
 * passwords. Such lines are skipped with a warning that tells the admin to re-hash.
 */

export type HashFormat = 'bcrypt' | 'apr1' | 'md5-crypt' | 'sha256-crypt' | 'sha512-crypt' | 'sha1' | 'ssha';

export interface ParsedHash {
  readonly format: HashFormat;
  /** The hash exactly as written in the file. */
  readonly hash: string;
  /** bcrypt: the cost; SHA-crypt: the rounds (5000 when absent); other formats: 0. */
  readonly cost: number;
}

export type HashClassification = ParsedHash | { readonly unsupported: string };

/** SHA-crypt rounds above this are refused: the implementation allocates per round, and a file
 *  entry must not be able to pin a worker for minutes. glibc's default is 5000. */
export const MAX_SHA_CRYPT_ROUNDS = 1_000_000;
const SHA_CRYPT_DEFAULT_ROUNDS = 5000;

const BCRYPT = /^\$2[aby]\$(?<cost>\d\d)\$[./A-Za-z0-9]{53}$/;
const MD5_CRYPT = /^\$(?<variant>apr1|1)\$[./0-9A-Za-z]{0,8}\$[./0-9A-Za-z]{22}$/;
const SHA_CRYPT = /^\$(?<variant>[56])\$(?:rounds=(?<rounds>\d{1,10})\$)?[./0-9A-Za-z]{0,16}\$(?<checksum>[./0-9A-Za-z]+)$/;
const SHA1 = /^\{SHA\}[A-Za-z0-9+/]{27}=$/;
const SSHA = /^\{SSHA\}(?<digestAndSalt>(?:[A-Za-z0-9+/]{4})+(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?)$/;
const DES = /^[./0-9A-Za-z]{13}$/;

const KNOWN_UNSUPPORTED: ReadonlyArray<readonly [prefix: string, name: string]> = [
  ['{PLAIN}', 'plaintext passwords are not supported'],
  ['$y$', 'yescrypt is not supported'],
  ['$gy$', 'gost-yescrypt is not supported'],
  ['$7$', 'scrypt is not supported'],
  ['$argon2', 'argon2 is not supported'],
  ['$2x$', 'bcrypt $2x$ (the buggy pre-2011 variant) is not supported'],
  ['_', 'BSDi extended DES crypt is not supported'],
];

/** What the hash is, or why it cannot be used. Never includes the hash in the reason. */
export function classifyHash(hash: string): HashClassification {
  if (hash === '') return { unsupported: 'empty hash' };
  const bcrypt = BCRYPT.exec(hash);
  if (bcrypt) {
    const cost = Number(bcrypt.groups?.cost);
    return cost >= 4 && cost <= 31 ? { format: 'bcrypt', hash, cost } : { unsupported: `bcrypt cost ${cost} out of range 4-31` };
  }
  const md5 = MD5_CRYPT.exec(hash);
  if (md5) return { format: md5.groups?.variant === 'apr1' ? 'apr1' : 'md5-crypt', hash, cost: 0 };
  const sha = SHA_CRYPT.exec(hash);
  if (sha) {
    const { variant, rounds: roundsText, checksum = '' } = sha.groups ?? {};
    const rounds = roundsText === undefined ? SHA_CRYPT_DEFAULT_ROUNDS : Number(roundsText);
    const expectedLength = variant === '5' ? 43 : 86;
    if (checksum.length !== expectedLength) return { unsupported: 'SHA-crypt hash of the wrong length' };
    if (rounds > MAX_SHA_CRYPT_ROUNDS) return { unsupported: `SHA-crypt rounds above ${MAX_SHA_CRYPT_ROUNDS}` };
    return { format: variant === '5' ? 'sha256-crypt' : 'sha512-crypt', hash, cost: rounds };
  }
  if (SHA1.test(hash)) return { format: 'sha1', hash, cost: 0 };
  const ssha = SSHA.exec(hash);
  if (ssha) {
    return Buffer.from(ssha.groups?.digestAndSalt ?? '', 'base64').length > 20
      ? { format: 'ssha', hash, cost: 0 }
      : { unsupported: '{SSHA} hash without a salt' };
  }
  for (const [prefix, reason] of KNOWN_UNSUPPORTED) {
    if (hash.startsWith(prefix)) return { unsupported: reason };
  }
  if (DES.test(hash)) return { unsupported: 'crypt(3) DES is not supported (8-character passwords, cracked in seconds)' };
  return { unsupported: 'unknown hash format (plaintext passwords are not supported)' };
}

export function isSupported(classification: HashClassification): classification is ParsedHash {
  return 'format' in classification;
}

const LABELS: Record<HashFormat, string> = {
  bcrypt: 'bcrypt',
  apr1: 'apr1-md5',
  'md5-crypt': 'md5-crypt',
  'sha256-crypt': 'sha256-crypt',
  'sha512-crypt': 'sha512-crypt',
  sha1: 'sha1',
  ssha: 'ssha',
};

/** A short human name for listings: `bcrypt`, `apr1-md5`, `sha512-crypt`… */
export function formatLabel(format: HashFormat): string {
  return LABELS[format];
}

/** Formats a modern attacker with a GPU gets through quickly; worth a warning at load time. */
export function isWeakFormat(format: HashFormat): boolean {
  return format === 'apr1' || format === 'md5-crypt' || format === 'sha1' || format === 'ssha';
}
