/**
 * The UI's two cookies: the session (who is logged in) and the CSRF nonce (what form tokens are
 * bound to). Both are HttpOnly and SameSite=Strict; over https (the listener's, or a trusted
 * proxy's X-Forwarded-Proto) they are Secure and carry the `__Host-` prefix, which a browser
 * accepts only from a secure origin, for Path=/ and without a Domain.
 */
import type { IncomingHttpHeaders } from 'node:http';

export type CookieKind = 'session' | 'csrf';

export function cookieName(kind: CookieKind, secure: boolean): string {
  return `${secure ? '__Host-' : ''}rg_${kind}`;
}

/** The value of one cookie of the request (the first, if a browser sent it twice). */
export function readCookie(headers: IncomingHttpHeaders, name: string): string | undefined {
  const header = headers.cookie;
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** A Set-Cookie value; `maxAgeSeconds` 0 deletes it, undefined makes it last the browser session. */
export function setCookie(kind: CookieKind, value: string, secure: boolean, maxAgeSeconds?: number): string {
  const attributes = [`${cookieName(kind, secure)}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Strict'];
  if (secure) attributes.push('Secure');
  if (maxAgeSeconds !== undefined) {
    attributes.push(`Max-Age=${maxAgeSeconds}`, `Expires=${new Date(Date.now() + maxAgeSeconds * 1000).toUTCString()}`);
  }
  return attributes.join('; ');
}
