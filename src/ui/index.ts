/**
 * The web UI, served by the gateway at /ui/ (and `/` redirects there). The pipeline hands it every
 * request whose path is a UI path, before any /v2/ handling, with what it resolved about the caller
 * (client address, a trusted SSO proxy's claim, https or not).
 *
 * Per request: parse the path strictly (paths.ts) → who is asking (a trusted SSO proxy's user,
 * else the session cookie re-checked with its provider, else anonymous) → for a form, the CSRF
 * token → the page or action, which asks UiDecisions (the /v2/ decision functions) before it reads
 * or changes anything. Answers are server-rendered HTML under a strict CSP.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ANONYMOUS, type Identity } from '../auth/identity.js';
import { RegistryError, isRegistryError } from '../oci/errors.js';
import { loginRefusalRecord } from '../gateway/audit-events.js';
import { logIn, logOut, showLogin } from './account.js';
import { notFound, showManifest, showRepositories, showRepository } from './browse.js';
import type { UiCaller, UiOptions, UiRequest, UiServices } from './context.js';
import { cookieName, readCookie, setCookie } from './cookies.js';
import { UiDecisions } from './decide.js';
import { deleteReference } from './delete.js';
import { readForm } from './form.js';
import type { Html } from './html.js';
import { messagePage } from './pages/message.js';
import type { Frame } from './pages/layout.js';
import { isUiPath, uiPageFromPath, type UiPage } from './paths.js';
import { redirect, sendHtml } from './respond.js';
import { RevokedSessions } from './revoked-sessions.js';
import { createRobotAccount, revokeRobotAccount, showRobots } from './robots-admin.js';
import { createToken, revokeAllTokens, revokeToken, showTokens } from './personal-tokens.js';
import { finishOidcLogin, oidcLogOut, startOidcLogin } from './oidc.js';
import { SessionKeys, type Session } from './session.js';
import { StaticAssets } from './static-assets.js';

export type { UiCaller, UiOptions } from './context.js';

export interface WebUi {
  /** Whether the UI answers this request target. */
  matches(url: string): boolean;
  /** Answers the request (never throws); resolves to the user name, for the access log. */
  handle(req: IncomingMessage, res: ServerResponse, caller: UiCaller): Promise<string | null>;
  close(): Promise<void>;
}

const NONCE = /^[A-Za-z0-9_-]{22}$/;
const HOST = /^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/;
/** Pages and the methods they answer. */
const METHODS: Record<UiPage['kind'], readonly string[]> = {
  'root-redirect': ['GET', 'HEAD'],
  repositories: ['GET', 'HEAD'],
  repository: ['GET', 'HEAD'],
  manifest: ['GET', 'HEAD'],
  static: ['GET', 'HEAD'],
  login: ['GET', 'HEAD', 'POST'],
  robots: ['GET', 'HEAD', 'POST'],
  logout: ['POST'],
  delete: ['POST'],
  'robot-revoke': ['POST'],
  tokens: ['GET', 'HEAD', 'POST'],
  'token-revoke': ['POST'],
  'token-revoke-all': ['POST'],
  'oidc-login': ['GET', 'HEAD'],
  'oidc-callback': ['GET', 'HEAD'],
};

/** The audited action of each form. */
const FORM_ACTIONS: Partial<Record<UiPage['kind'], string>> = {
  delete: 'delete',
  login: 'login',
  logout: 'logout',
  robots: 'robot-create',
  'robot-revoke': 'robot-revoke',
  tokens: 'token-create',
  'token-revoke': 'token-revoke',
  'token-revoke-all': 'token-revoke',
};

interface Caller {
  identity: Identity;
  session?: Session | undefined;
  /** The session cookie named a session that is over (logged out, expired, subject gone): clear it. */
  staleSession: boolean;
}

export async function createWebUi(options: UiOptions): Promise<WebUi> {
  const keys = await SessionKeys.open(options.stateDir);
  const revoked = await RevokedSessions.open(options.stateDir, options.lock, options.logger);
  const services: UiServices = {
    options,
    decisions: new UiDecisions(options.policy, options.backend, options.adminGroup),
    keys,
    revoked,
    assets: await StaticAssets.load(),
  };

  async function whoIsAsking(req: IncomingMessage, caller: UiCaller, secure: boolean): Promise<Caller | 'invalid'> {
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

  async function serve(req: IncomingMessage, res: ServerResponse, caller: UiCaller, resolved: { user: string | null }): Promise<void> {
    const url = req.url ?? '/';
    const queryAt = url.indexOf('?');
    const path = queryAt === -1 ? url : url.slice(0, queryAt);
    const query = new URLSearchParams(queryAt === -1 ? '' : url.slice(queryAt + 1));
    const method = req.method ?? 'GET';
    const page = uiPageFromPath(path);
    if (page?.kind === 'root-redirect') {
      redirect(res, '/ui/');
      return;
    }
    if (page?.kind === 'static' && (method === 'GET' || method === 'HEAD') && services.assets.serve(res, method, page.name, query)) return;

    const secure = caller.proto === 'https';
    const who = await whoIsAsking(req, caller, secure);
    if (who === 'invalid') {
      options.audit.record({
        ...loginRefusalRecord({
          user: caller.ssoUser ?? null,
          client: caller.clientIp,
          method,
          status: 401,
          reason: 'invalid-credentials',
          endpoint: '/ui/',
        }),
        source: 'ui',
      });
      throw new RegistryError('UNAUTHORIZED', 'The single sign-on proxy sent a user name that cannot be used.');
    }
    const { identity, session } = who;
    resolved.user = identity.user;
    if (who.staleSession) res.appendHeader('Set-Cookie', setCookie('session', '', secure, 0));
    let nonce = readCookie(req.headers, cookieName('csrf', secure));
    if (nonce === undefined || !NONCE.test(nonce)) {
      nonce = SessionKeys.newNonce();
      res.appendHeader('Set-Cookie', setCookie('csrf', nonce, secure));
    }
    const host = req.headers.host !== undefined && HOST.test(req.headers.host) ? req.headers.host : 'REGISTRY';
    const frame: Frame = {
      identity,
      csrf: keys.csrfToken(nonce, session?.sid, identity.user),
      isAdmin: services.decisions.isAdmin(identity),
      assets: services.assets,
      registryHost: host,
    };
    const allowed = page === undefined || METHODS[page.kind].includes(method);
    const form = page && allowed && method === 'POST' ? await readForm(req) : new URLSearchParams();
    const request: UiRequest = {
      req,
      res,
      method,
      query,
      identity,
      session,
      caller,
      secure,
      frame,
      services,
      form,
      page: (status: number, html: Html) => {
        // An unread request body would otherwise be parsed as the next request on this connection.
        if (!req.complete) res.setHeader('Connection', 'close');
        sendHtml(res, method, status, html);
      },
      redirect: (location: string) => redirect(res, location, method === 'POST' ? 303 : 302),
      audit: (record) =>
        options.audit.record({
          ...record,
          user: identity.user,
          groups: identity.groups,
          via: identity.via,
          client: caller.clientIp,
          source: 'ui',
        }),
    };
    if (!page) {
      notFound(request, 'page');
      return;
    }
    if (!allowed) {
      res.setHeader('Allow', METHODS[page.kind].join(', '));
      request.page(405, messagePage(frame, 'Not allowed', `${method} is not allowed here.`));
      return;
    }
    // A form from another site: no same-origin fetch metadata, or no token made for this browser and session.
    const site = req.headers['sec-fetch-site'];
    if (
      method === 'POST' &&
      ((site !== undefined && site !== 'same-origin') || !keys.csrfTokenMatches(form.get('csrf'), nonce, session?.sid, identity.user))
    ) {
      request.audit({
        method,
        action: FORM_ACTIONS[page.kind] ?? page.kind,
        repository: 'repository' in page ? page.repository : '',
        decision: 'deny',
        rule: -1,
        status: 403,
        reason: 'csrf',
      });
      request.page(
        403,
        messagePage(frame, 'Form expired', 'This form has expired or did not come from this site. Reload the page and try again.'),
      );
      return;
    }
    switch (page.kind) {
      case 'repositories':
        return showRepositories(request);
      case 'repository':
        return showRepository(request, page.repository);
      case 'manifest':
        return showManifest(request, page.repository, page.reference);
      case 'login':
        if (method === 'POST') return logIn(request);
        showLogin(request);
        return;
      case 'logout':
        return session?.via === 'oidc' ? oidcLogOut(request) : logOut(request);
      case 'delete':
        return deleteReference(request, page.repository);
      case 'robots':
        return method === 'POST' ? createRobotAccount(request) : showRobots(request);
      case 'robot-revoke':
        return revokeRobotAccount(request);
      case 'tokens':
        return method === 'POST' ? createToken(request) : showTokens(request);
      case 'token-revoke':
        return revokeToken(request);
      case 'token-revoke-all':
        return revokeAllTokens(request);
      case 'oidc-login':
        return startOidcLogin(request);
      case 'oidc-callback':
        return finishOidcLogin(request);
      case 'static': {
        notFound(request, 'file');
        return;
      }
    }
  }

  return {
    matches: isUiPath,
    async handle(req, res, caller) {
      const resolved = { user: null as string | null };
      try {
        await serve(req, res, caller, resolved);
      } catch (error) {
        if (res.headersSent) {
          res.destroy();
        } else {
          const failure = isRegistryError(error) ? error : new RegistryError('INTERNAL_ERROR');
          if (!isRegistryError(error)) options.logger.error({ err: error }, 'UI request failed');
          if (!req.complete) res.setHeader('Connection', 'close');
          for (const [name, value] of Object.entries(failure.headers)) res.setHeader(name, value);
          const frame: Frame = { identity: ANONYMOUS, csrf: '', isAdmin: false, assets: services.assets, registryHost: 'REGISTRY' };
          const title = failure.status === 503 ? 'Unavailable' : failure.status >= 500 ? 'Something went wrong' : 'Refused';
          sendHtml(
            res,
            req.method ?? 'GET',
            failure.status,
            messagePage(
              frame,
              title,
              failure.status >= 500 && failure.code === 'INTERNAL_ERROR' ? 'An internal error; it has been logged.' : failure.message,
            ),
          );
        }
      }
      return resolved.user;
    },
    async close() {
      await revoked.close();
    },
  };
}
