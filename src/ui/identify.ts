/**
 * Who is asking the UI: a trusted SSO proxy's user (checked as the gateway checks it), else the
 * session cookie, whose subject is re-checked with its provider on every request (a changed
 * password, a deleted user or a `token revoke --user` ends it at once), else anonymous. A cookie
 * that names a session which is over (logged out, expired, subject gone) is cleared; an SSO user
 * name that cannot be used is audited and refused with a 401.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ANONYMOUS, type Identity } from '../auth/identity.js';
import { loginRefusalRecord } from '../access/audit-records.js';
import { RegistryError } from '../oci/errors.js';
import type { UiCaller, UiServices } from './context.js';
import { cookieName, readCookie, setCookie } from './cookies.js';
import type { Session } from './session.js';

export interface Visitor {
  readonly identity: Identity;
  readonly session?: Session | undefined;
}

interface Found extends Visitor {
  /** The session cookie named a session that is over: clear it. */
  readonly staleSession: boolean;
}

export async function identify(
  services: UiServices,
  req: IncomingMessage,
  res: ServerResponse,
  caller: UiCaller,
  secure: boolean,
): Promise<Visitor> {
  const found = await whoIsAsking(services, req, caller, secure);
  if (found === 'invalid') {
    services.options.audit.record({
      ...loginRefusalRecord({
        user: caller.ssoUser ?? null,
        client: caller.clientIp,
        method: req.method ?? 'GET',
        status: 401,
        reason: 'invalid-credentials',
        endpoint: '/ui/',
      }),
      source: 'ui',
    });
    throw new RegistryError('UNAUTHORIZED', 'The single sign-on proxy sent a user name that cannot be used.');
  }
  if (found.staleSession) res.appendHeader('Set-Cookie', setCookie('session', '', secure, 0));
  return { identity: found.identity, session: found.session };
}

async function whoIsAsking(services: UiServices, req: IncomingMessage, caller: UiCaller, secure: boolean): Promise<Found | 'invalid'> {
  const { options, keys, revoked } = services;
  if (caller.ssoUser !== undefined) {
    const identity = await options.authenticate({
      authorization: undefined,
      clientIp: caller.clientIp,
      ssoUser: caller.ssoUser,
      ssoGroups: caller.ssoGroups,
    });
    return identity === 'invalid' ? identity : { identity, staleSession: false };
  }
  const cookie = readCookie(req.headers, cookieName('session', secure));
  if (cookie === undefined) return { identity: ANONYMOUS, staleSession: false };
  const session = keys.verify(cookie);
  if (!session || revoked.has(session.sid)) return { identity: ANONYMOUS, staleSession: true };
  const identity = await options.refreshIdentity(session);
  return identity ? { identity, session, staleSession: false } : { identity: ANONYMOUS, staleSession: true };
}
