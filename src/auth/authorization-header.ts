/**
 * Reading the Authorization request header (RFC 9110 §11.6.2, Basic per RFC 7617), and the Basic
 * challenge that asks for it. Strict on purpose: a header that is not exactly
 * `Basic <base64 of user:password>` is 'malformed', so that odd encodings never reach a password
 * check or the credential cache. Never throws.
 */
import type { Credentials } from './identity.js';

/** Longer headers are refused before any decoding (nginx's default header buffer is 8 KiB). */
export const MAX_AUTHORIZATION_HEADER_LENGTH = 8192;

const SCHEME = /^(?<scheme>[!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:[ \t]+|$)/;
// Padded standard base64 (as Go's net/http, curl and browsers send it).
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const CONTROL = /\p{Cc}/u;
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The header's auth scheme in lower case (`basic`, `bearer`…), or undefined when absent or unparsable. */
export function authorizationScheme(header: string | undefined): string | undefined {
  if (header === undefined || header.length > MAX_AUTHORIZATION_HEADER_LENGTH) return undefined;
  return SCHEME.exec(header.trim())?.[1]?.toLowerCase();
}

/**
 * `Credentials` from a Basic header; 'absent' when there is no header, or for empty credentials
 * (`Basic Og==`, i.e. `:`, what clients without credentials answer a Basic challenge with);
 * 'malformed' for anything else: another scheme, bad base64, invalid UTF-8, no colon, an empty user
 * name or control characters in it, or a header longer than MAX_AUTHORIZATION_HEADER_LENGTH.
 */
export function parseBasicAuthorization(header: string | undefined): Credentials | 'absent' | 'malformed' {
  if (header === undefined) return 'absent';
  if (header.length > MAX_AUTHORIZATION_HEADER_LENGTH) return 'malformed';
  const value = header.trim();
  const scheme = SCHEME.exec(value);
  if (!scheme || scheme.groups?.scheme?.toLowerCase() !== 'basic') return 'malformed';
  const token = value.slice(scheme[0].length);
  if (token === '' || !BASE64.test(token)) return 'malformed';
  let decoded: string;
  try {
    decoded = UTF8.decode(Buffer.from(token, 'base64'));
  } catch {
    return 'malformed';
  }
  if (decoded === ':') return 'absent';
  const colon = decoded.indexOf(':');
  if (colon <= 0) return 'malformed';
  const user = decoded.slice(0, colon);
  if (CONTROL.test(user)) return 'malformed';
  return { user, password: decoded.slice(colon + 1) };
}

/** A challenge parameter's value as a quoted-string (RFC 9110 §5.6.4); a line break never reaches the header. */
export function quotedString(value: string): string {
  return `"${value.replace(/[\\"]/g, '\\$&').replace(/[\r\n]/g, '')}"`;
}

/** The `WWW-Authenticate` value that asks for Basic credentials (RFC 7617), at /v2/ and at the token endpoint. */
export function basicChallengeHeader(realm: string): string {
  return `Basic realm=${quotedString(realm)}`;
}
