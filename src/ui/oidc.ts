/**
 * Signing in through the OpenID provider (auth.oidc), on the relying party of auth/oidc/:
 *
 *   GET /ui/oidc/login?return=/ui/…   → 302 to the provider (PKCE, state, nonce), login state sealed in a cookie
 *   GET /ui/oidc/callback?code&state  → the code exchanged and the ID token checked; a session for the account
 *   POST /ui/logout (an OIDC session)  → the session revoked here, then the provider's logout (RP-initiated)
 *
 * Everything a hostile browser or provider can send is refused with a page that says so, an audit
 * line (action `login`, endpoint `/ui/oidc/callback`, a reason code) and never a 5xx: a return
 * address that is not a page of this UI (no open redirect), a callback without this browser's
 * login state, with another `state`, or one already used (a replay), a code the provider will not
 * exchange (another session's: its PKCE verifier is not ours), an ID token that does not verify
 * (forged, expired, for another audience or issuer, `alg: none`), claims without a usable name. A
 * provider that cannot be reached is a 503, as for LDAP. Neither codes nor tokens reach a log.
 *
 * The callback answers with a page that moves on by itself rather than a redirect: the session
 * cookie is SameSite=Strict, and a browser does not send it on a redirect that began on the
 * provider's site. Logout does the same for the way out: the CSP's `form-action 'self'` would
 * stop a form's redirect to the provider.
 */
import { randomNonce, randomPKCECodeVerifier, randomState } from 'openid-client';
import { OidcRefusal } from '../auth/oidc/client.js';
import { OIDC_CALLBACK_PATH } from '../config/schema/oidc.js';
import { isRegistryError } from '../oci/errors.js';
import { logOut } from './account.js';
import type { UiRequest } from './context.js';
import { setCookie } from './cookies.js';
import { html } from './html.js';
import { layout, notice } from './pages/layout.js';
import { messagePage } from './pages/message.js';
import { uiPageFromPath } from './paths.js';
import {
  clearLoginStateCookie,
  hasLoginStateCookie,
  LOGIN_STATE_TTL_MS,
  loginStateCookie,
  readLoginState,
  type LoginState,
} from './oidc-login-state.js';
import { SessionKeys } from './session.js';

export const OIDC_LOGIN_PATH = '/ui/oidc/login';
const MAX_USED_STATES = 10_000;
const NOT_A_RETURN = new Set(['static', 'oidc-login', 'oidc-callback', 'logout']);

/** `text` when it is a page of this UI to come back to (a path, with a plain query at most), else undefined. */
export function safeReturnPath(text: string | null): string | undefined {
  if (text === null || text.length > 1024 || !text.startsWith('/ui/') || text.includes('//')) return undefined;
  const [path = '', query, ...rest] = text.split('?');
  if (rest.length > 0 || (query !== undefined && !/^[A-Za-z0-9._~=&%+-]*$/.test(query))) return undefined;
  const page = uiPageFromPath(path);
  return page && !NOT_A_RETURN.has(page.kind) ? text : undefined;
}

/**
 * States whose callback came already, until their login state would have expired: a second
 * callback with one is a replay, refused before the provider is asked (which would revoke the
 * grant of the code's first use). Per process; a replay to another worker still fails at the
 * provider, which will not exchange a code twice.
 */
const usedStates = new Map<string, number>();

function markUsed(state: string, now: number): boolean {
  for (const [old, until] of usedStates) {
    if (until > now && usedStates.size < MAX_USED_STATES) break;
    usedStates.delete(old);
  }
  if (usedStates.has(state)) return false;
  usedStates.set(state, now + LOGIN_STATE_TTL_MS);
  return true;
}

function refuse(request: UiRequest, status: number, reason: string, message: string, detail?: string, user: string | null = null): void {
  request.services.options.audit.record({
    user,
    groups: [],
    via: 'oidc',
    client: request.caller.clientIp,
    method: request.method,
    action: 'login',
    repository: '',
    decision: 'deny',
    rule: -1,
    status,
    reason,
    endpoint: request.req.url?.startsWith(OIDC_LOGIN_PATH) ? OIDC_LOGIN_PATH : OIDC_CALLBACK_PATH,
    source: 'ui',
    ...(detail !== undefined ? { detail } : {}),
  });
  request.page(status, messagePage(request.frame, 'Sign-in refused', message));
}

function redirectUri(request: UiRequest): string | undefined {
  const configured = request.services.options.oidc?.config.redirectUrl;
  if (configured) return configured;
  const host = request.frame.registryHost;
  return host === 'REGISTRY' ? undefined : `${request.caller.proto}://${host}${OIDC_CALLBACK_PATH}`;
}

export async function startOidcLogin(request: UiRequest): Promise<void> {
  const oidc = request.services.options.oidc;
  if (!oidc) {
    request.page(404, messagePage(request.frame, 'Not found', 'Single sign-on is not configured here.'));
    return;
  }
  const requested = request.query.get('return');
  const returnTo = requested === null ? '/ui/' : safeReturnPath(requested);
  if (returnTo === undefined) {
    refuse(request, 400, 'bad-return-address', 'The address to come back to after signing in is not a page of this site.');
    return;
  }
  const uri = redirectUri(request);
  if (uri === undefined) {
    refuse(request, 400, 'bad-host', 'This request does not say which host it is for; set auth.oidc.redirectUrl.');
    return;
  }
  const state = { state: randomState(), nonce: randomNonce(), codeVerifier: randomPKCECodeVerifier(), redirectUri: uri, returnTo };
  const target = await oidc.client.authorizationUrl(state);
  request.res.appendHeader(
    'Set-Cookie',
    loginStateCookie(oidc.box, { ...state, expiresAt: Date.now() + LOGIN_STATE_TTL_MS }, request.secure),
  );
  request.redirect(target.href);
}

type Refusal = readonly [status: number, reason: string, message: string, detail?: string];

/** What is wrong with a callback before the provider is asked, if anything. */
function callbackProblem(query: URLSearchParams, login: LoginState | undefined): Refusal | undefined {
  if (!login) return [400, 'oidc-no-login-state', 'No sign-in was started in this browser, or it took too long. Start again.'];
  if (query.get('state') !== login.state)
    return [400, 'oidc-state-mismatch', 'This answer is not for the sign-in this browser started. Start again.'];
  if (!markUsed(login.state, Date.now())) return [400, 'oidc-state-replayed', 'This sign-in was finished already. Start again.'];
  const error = query.get('error');
  if (error === null) return undefined;
  const code = /^[\x20-\x7e]{1,64}$/.test(error) ? error : 'unreadable';
  return [401, 'oidc-provider-error', `The identity provider did not sign you in (${code}).`, code];
}

export async function finishOidcLogin(request: UiRequest): Promise<void> {
  const oidc = request.services.options.oidc;
  if (!oidc) {
    request.page(404, messagePage(request.frame, 'Not found', 'Single sign-on is not configured here.'));
    return;
  }
  const { query, secure } = request;
  const login = readLoginState(oidc.box, request.req.headers, secure);
  if (hasLoginStateCookie(request.req.headers, secure)) request.res.appendHeader('Set-Cookie', clearLoginStateCookie(secure));
  const problem = callbackProblem(query, login);
  if (problem || !login) {
    refuse(request, ...(problem ?? [400, 'oidc-no-login-state', 'Start again.']));
    return;
  }
  const callback = new URL(login.redirectUri);
  callback.search = new URLSearchParams(query).toString();
  let identity;
  try {
    identity = await oidc.accounts.signIn(await oidc.client.signIn(callback, login));
  } catch (failure) {
    if (!(failure instanceof OidcRefusal)) throw failure;
    request.services.options.logger.info({ reason: failure.reason, detail: failure.detail }, 'OpenID Connect sign-in refused');
    const message = 'The identity provider’s answer could not be accepted. Start again, or ask an administrator.';
    refuse(request, 401, `oidc-${failure.reason}`, message, failure.detail);
    return;
  }
  const ttl = request.services.options.sessionTtlMs;
  const { value } = request.services.keys.issue({ user: identity.user as string, via: 'oidc', subjectId: identity.subjectId }, ttl);
  request.res.appendHeader('Set-Cookie', setCookie('session', value, secure, Math.floor(ttl / 1000)));
  request.res.appendHeader('Set-Cookie', setCookie('csrf', SessionKeys.newNonce(), secure));
  request.services.options.audit.record({
    user: identity.user,
    groups: identity.groups,
    via: 'oidc',
    client: request.caller.clientIp,
    method: 'GET',
    action: 'login',
    repository: '',
    decision: 'allow',
    rule: -1,
    status: 200,
    endpoint: OIDC_CALLBACK_PATH,
    source: 'ui',
  });
  const onward = login.returnTo;
  const body = html`<h1>Signed in</h1>${notice('ok', html`Signed in as <strong>${identity.user ?? ''}</strong>.`)}<p><a href="${onward}">Continue</a></p>`;
  request.page(
    200,
    layout({ ...request.frame, identity }, 'Signed in', [], body, html`<meta http-equiv="refresh" content="${`0;url=${onward}`}">`),
  );
}

/** Logout of a session made through the provider: ended here, then at the provider when it offers RP-initiated logout. */
export async function oidcLogOut(request: UiRequest): Promise<void> {
  const oidc = request.services.options.oidc;
  const uri = oidc && redirectUri(request);
  const away =
    uri === undefined
      ? undefined
      : await oidc?.client.endSessionUrl(`${new URL(uri).origin}/ui/`).catch((error: unknown) => {
          if (isRegistryError(error)) return undefined;
          throw error;
        });
  await logOut(
    request,
    away === undefined
      ? undefined
      : (done) => {
          const signedOut = { ...done.frame, identity: { user: null, groups: [], via: 'anonymous' as const } };
          const body = html`<h1>Signed out</h1>${notice('ok', `Signed out here; now signing out at ${oidc?.config.name ?? 'the identity provider'}.`)}<p><a href="${away}">Continue</a></p>`;
          done.page(200, layout(signedOut, 'Signed out', [], body, html`<meta http-equiv="refresh" content="${`0;url=${away}`}">`));
        },
  );
}
