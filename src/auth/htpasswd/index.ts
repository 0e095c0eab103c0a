/** htpasswd files: formats, parsing, verification, the hot-reloading provider, and editing. */
export { classifyHash, formatLabel, isSupported, isWeakFormat, MAX_SHA_CRYPT_ROUNDS } from './formats.js';
export type { HashClassification, HashFormat, ParsedHash } from './formats.js';
export { isValidUserName, parseHtpasswd, parseHtpasswdLine } from './file.js';
export type { HtpasswdEntry, HtpasswdLine, ParsedHtpasswd, SkippedLine } from './file.js';
export { constantTimeEqual, dummyHash, verifyPassword } from './verify.js';
export { HtpasswdProvider } from './provider.js';
export type { HtpasswdProviderOptions } from './provider.js';
export {
  BCRYPT_MAX_PASSWORD_BYTES,
  hashPasswordBcrypt,
  HtpasswdDocument,
  MAX_BCRYPT_COST,
  MIN_BCRYPT_COST,
  readHtpasswdText,
  writeHtpasswdFile,
} from './edit.js';
export type { DocumentUser } from './edit.js';
