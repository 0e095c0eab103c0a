/**
 * Logging in and out. The form's credentials go through the same cached, throttled provider chain
 * as a registry client's (htpasswd, LDAP, robots); a refused login is audited as at /v2/ (action
 * `login`, the name tried, why) with endpoint `/ui/login`, and the throttle's 429 is shown with its
 * wait. A session is issued only for subjects a later request can re-check with their provider.
 * Behind a trusted SSO proxy the user is logged in by its headers and there is nothing to do here.
 */
import { loginRefusalRecord, type LoginRefusalReason } from '../access/audit-records.js';
import { isRegistryError } from '../oci/errors.js';
import { mayRefresh } from '../auth/token/refresh-subject.js';
import type { UiRequest } from './context.js';
import { setCookie } from './cookies.js';
import { loginPage } from './pages/login.js';
import { messagePage } from './pages/message.js';
import { SessionKeys } from './session.js';

export const LOGIN_PATH = '/ui/login';

function refused(request: UiRequest, user: string, status: number, reason: LoginRefusalReason): void {
  const record = loginRefusalRecord({ user, client: request.caller.clientIp, method: 'POST', status, reason, endpoint: LOGIN_PATH });
  request.services.options.audit.record({ ...record, source: 'ui' });
}

/** What the login page offers besides the form: the provider's button, and whether the form is on. */
function loginChoices(request: UiRequest): { oidc?: { name: string; href: string }; passwordForm: boolean } {
  const oidc = request.services.options.oidc;
  if (!oidc) return { passwordForm: true };
  const back = request.query.get('return');
  const href = back === null ? '/ui/oidc/login' : `/ui/oidc/login?return=${encodeURIComponent(back)}`;
  return { oidc: { name: oidc.config.name, href }, passwordForm: oidc.config.passwordLogin };
}

export function showLogin(request: UiRequest): void {
  if (request.identity.user !== null) return request.redirect('/ui/');
  request.page(200, loginPage(request.frame, loginChoices(request)));
}

export async function logIn(request: UiRequest): Promise<void> {
  const { form, services } = request;
  const user = (form.get('user') ?? '').slice(0, 256);
  const password = form.get('password') ?? '';
  if (request.identity.via === 'header') {
    request.redirect('/ui/');
    return;
  }
  const choices = loginChoices(request);
  if (!choices.passwordForm) {
    refused(request, user, 403, 'invalid-credentials');
    request.page(403, loginPage(request.frame, { ...choices, error: 'Signing in with a password is turned off here.' }));
    return;
  }
  let identity;
  try {
    identity =
      user === '' || password === '' ? null : await services.options.verifyPassword({ user, password, clientIp: request.caller.clientIp });
  } catch (error) {
    if (isRegistryError(error) && error.code === 'TOOMANYREQUESTS') {
      refused(request, user, error.status, 'throttled');
      const wait = error.headers['Retry-After'];
      if (wait) request.res.setHeader('Retry-After', wait);
      request.page(
        429,
        loginPage(request.frame, { ...choices, user, error: `Too many failed logins. Try again in ${wait ?? 'a few'} seconds.` }),
      );
      return;
    }
    throw error;
  }
  if (!identity || identity.user === null || !mayRefresh(identity)) {
    refused(request, user, 401, 'invalid-credentials');
    request.page(401, loginPage(request.frame, { ...choices, user, error: 'Wrong user name or password.' }));
    return;
  }
  const ttl = services.options.sessionTtlMs;
  const subject = { user: identity.user, via: identity.via, subjectId: identity.subjectId, credentialStamp: identity.credentialStamp };
  const { value } = services.keys.issue(subject, ttl);
  request.res.appendHeader('Set-Cookie', setCookie('session', value, request.secure, Math.floor(ttl / 1000)));
  // A new browser nonce with the new session: no form token from before the login stays valid.
  request.res.appendHeader('Set-Cookie', setCookie('csrf', SessionKeys.newNonce(), request.secure));
  request.redirect('/ui/');
}

/** `answer`: what to answer once the session is over (default: back to the repository list). */
export async function logOut(request: UiRequest, answer?: (request: UiRequest) => void): Promise<void> {
  const { session, services } = request;
  if (request.identity.via === 'header') {
    request.page(400, messagePage(request.frame, 'Logged in by single sign-on', 'Log out through your single sign-on portal.', 'info'));
    return;
  }
  if (session) await services.revoked.revoke(session.sid, session.expiresAt);
  request.res.appendHeader('Set-Cookie', setCookie('session', '', request.secure, 0));
  if (answer) answer(request);
  else request.redirect('/ui/');
}
