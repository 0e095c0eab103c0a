/**
 * What a browser carries between the login redirect and the callback: the PKCE code verifier, the
 * `state` and `nonce` sent to the provider, the redirect URI used, where to go afterwards and until
 * when (LOGIN_STATE_TTL_MS). One cookie, sealed (AES-GCM, auth/oidc/secret-box.ts): the browser
 * cannot read or change it, another browser's is useless without its `state` coming back with it,
 * and any worker can open it.
 *
 * SameSite=Lax, not Strict like the session: the callback is a navigation from the provider's
 * site, and a Strict cookie would not come with it. It is cleared on the callback, used or not.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { SecretBox } from '../auth/oidc/secret-box.js';
import { readCookie } from './cookies.js';

export const LOGIN_STATE_TTL_MS = 10 * 60_000;
const PURPOSE = 'login-state:ui';

export interface LoginState {
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
  readonly redirectUri: string;
  /** A path of this UI, checked before it was sealed. */
  readonly returnTo: string;
  readonly expiresAt: number;
}

function cookieName(secure: boolean): string {
  return `${secure ? '__Host-' : ''}rg_oidc`;
}

function attributes(secure: boolean, maxAgeSeconds: number): string {
  return ['Path=/', 'HttpOnly', 'SameSite=Lax', ...(secure ? ['Secure'] : []), `Max-Age=${maxAgeSeconds}`].join('; ');
}

export function loginStateCookie(box: SecretBox, state: LoginState, secure: boolean): string {
  return `${cookieName(secure)}=${box.seal(PURPOSE, JSON.stringify(state))}; ${attributes(secure, Math.floor(LOGIN_STATE_TTL_MS / 1000))}`;
}

export function clearLoginStateCookie(secure: boolean): string {
  return `${cookieName(secure)}=; ${attributes(secure, 0)}`;
}

export function hasLoginStateCookie(headers: IncomingHttpHeaders, secure: boolean): boolean {
  return readCookie(headers, cookieName(secure)) !== undefined;
}

/** The browser's login state, if it has one that opens and has not expired. */
export function readLoginState(box: SecretBox, headers: IncomingHttpHeaders, secure: boolean, now = Date.now()): LoginState | undefined {
  const value = readCookie(headers, cookieName(secure));
  if (value === undefined || value.length > 4096) return undefined;
  const text = box.open(PURPOSE, value);
  if (text === undefined) return undefined;
  try {
    const parsed = JSON.parse(text) as Partial<LoginState>;
    const strings = [parsed.state, parsed.nonce, parsed.codeVerifier, parsed.redirectUri, parsed.returnTo];
    if (!strings.every((value) => typeof value === 'string') || typeof parsed.expiresAt !== 'number' || parsed.expiresAt <= now)
      return undefined;
    return parsed as LoginState;
  } catch {
    return undefined;
  }
}
