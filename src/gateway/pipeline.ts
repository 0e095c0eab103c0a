/**
 * One request, end to end: route → identity → decision → backend. Each stage is a plain call;
 * every failure is a RegistryError answered as OCI error JSON; every response under /v2/ carries
 * exactly one Docker-Distribution-Api-Version header; every state change and every refusal leaves
 * one audit record.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Loggers } from '../log.js';
import type { Authenticate } from '../auth/authenticate.js';
import type { Identity } from '../auth/identity.js';
import type { AccessPolicy, Decision } from '../access/policy.js';
import type { AuditSink } from '../access/audit.js';
import type { Backend, RequestContext } from '../backend/backend.js';
import { isRegistryError, RegistryError, toRegistryError } from '../errors.js';
import { mayListCatalog, scopesAllow, showsInCatalog } from '../auth/token/access.js';
import { CATALOG_SCOPE } from '../auth/token/bearer.js';
import { challengeScopes, type Challenge } from './challenge.js';
import { isTokenPath, type CallerFacts, type TokenEndpoint } from './token-endpoint.js';
import { requiredAccess } from './actions.js';
import { authorizeRequest } from './authorize.js';
import {
  auditRecord,
  loginRefusalRecord,
  responseDigest,
  stateChange,
  triedUserName,
  type AuditFacts,
  type LoginRefusalReason,
} from './audit-events.js';
import { listVisibleRepositories, sendCatalog, type CatalogPaging } from './catalog.js';
import { API_VERSION, API_VERSION_HEADER, clientAddress, clientProto, isLegacyDockerClient, type ForwardingFacts } from './headers.js';
import { isDigest, routeFromUrl, type Route } from './route.js';
import type { SectionLock } from '../server/keyed-lock.js';
import { normalizeIp, type AddressMatcher } from '../lib/ip.js';
import { logAccess, onRequestDone } from './access-log.js';
import { healthPath, type HealthEndpoint } from './health.js';
import type { GateMetrics } from '../metrics/gate-metrics.js';
import { sendErrorWithLingeringClose } from './lingering-close.js';

export interface GatewayOptions {
  /** `bearer`: every /v2/ request needs a token from the token endpoint (Docker token flow). */
  readonly scheme: 'basic' | 'bearer';
  readonly challenge: Challenge;
  /** Serves /healthz and /readyz, without credentials. */
  readonly health?: HealthEndpoint | undefined;
  /** Serves /auth/token and /auth/jwks when the token service is on. */
  readonly tokenEndpoint?: TokenEndpoint | undefined;
  /** The web UI (src/ui/) when it is on: it answers its own paths (/ui/…, and / with a redirect). */
  readonly ui?:
    | {
        matches(url: string): boolean;
        handle(req: IncomingMessage, res: ServerResponse, caller: CallerFacts & { proto: string }): Promise<string | null>;
      }
    | undefined;
  readonly rejectLegacyDocker: boolean;
  readonly trustedProxy: AddressMatcher;
  readonly listenerScheme: 'http' | 'https';
  readonly authenticate: Authenticate;
  /** SSO proxy headers, honoured only from trusted peers and removed from everyone else's requests. */
  readonly trustedHeader?: { readonly user: string; readonly groups?: string | undefined } | undefined;
  readonly policy: AccessPolicy;
  readonly backend: Backend;
  /** Serialises first pushes of a protected tag across this server's processes (and replicas, with Redis). */
  readonly tagLock: SectionLock;
  readonly audit: AuditSink;
  readonly loggers: Loggers;
  readonly accessLog: boolean;
  /** The filtered catalog's scan limit and page tokens. */
  readonly catalog: CatalogPaging;
  /** Counts every request once it is done, and uploads while they run. */
  readonly metrics?: Pick<GateMetrics, 'requestFinished' | 'uploadStarted'> | undefined;
}

/** Settles when the pipeline is done with the request (after the response, for a protected tag's check). */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/**
 * The detail of a policy refusal: the action refused. Not decoration: the docker CLI reads an error
 * that has neither a detail nor a message of its own as a bare code, which its upload loop does not
 * take as final, so a refused `docker push` was retried for 50 seconds. The repository is not named,
 * so an answer about a repository that exists and one about a repository that does not stay the same.
 */
function refusalDetail(action: string): { action: string } {
  return { action };
}

/** What the access log needs to know about a request once the pipeline has run. */
interface RequestState {
  user: string | null;
  client: string;
  /** For metrics: the route kind, `token`, `ui` or `health` once known; `unknown` for what never parsed. */
  kind: string;
}

/** Requests that carry a blob upload's body (or start or finish one). */
function isUpload(route: Route, method: string): boolean {
  return (route.kind === 'upload' || route.kind === 'upload-start') && (method === 'POST' || method === 'PATCH' || method === 'PUT');
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? undefined : value;
}

export function createGateway(options: GatewayOptions): RequestHandler {
  const { policy, backend, audit } = options;
  const bearer = options.scheme === 'bearer';
  const sso = options.trustedHeader && {
    user: options.trustedHeader.user.toLowerCase(),
    groups: options.trustedHeader.groups?.toLowerCase(),
  };
  // Also their underscore spellings, which CGI-style layers behind an upstream treat as the same header.
  const ssoNames = sso ? [sso.user, ...(sso.groups ? [sso.groups] : [])].flatMap((name) => [name, name.replace(/-/g, '_')]) : [];

  async function serve(req: IncomingMessage, res: ServerResponse, facts: ForwardingFacts, state: RequestState): Promise<void> {
    const method = req.method ?? 'GET';
    const caller = {
      clientIp: state.client,
      ssoUser: sso && facts.peerTrusted ? single(req.headers[sso.user]) : undefined,
      ssoGroups: sso?.groups && facts.peerTrusted ? single(req.headers[sso.groups]) : undefined,
    };
    if (options.health && healthPath(req.url ?? '')) {
      state.kind = 'health';
      return options.health(req, res);
    }
    if (options.tokenEndpoint && isTokenPath(req.url ?? '')) {
      state.kind = 'token';
      return options.tokenEndpoint(req, res, caller);
    }
    if (options.ui?.matches(req.url ?? '/')) {
      state.kind = 'ui';
      state.user = await options.ui.handle(req, res, { ...caller, proto: clientProto(req.headers, facts) });
      return;
    }
    res.setHeader(API_VERSION_HEADER, API_VERSION);
    const proto = clientProto(req.headers, facts);
    const unauthorized = (scopes: readonly string[], error?: 'invalid_token' | 'insufficient_scope') =>
      new RegistryError('UNAUTHORIZED', undefined, {
        headers: { 'WWW-Authenticate': options.challenge({ proto, host: req.headers.host, scopes, error }) },
      });
    if (options.rejectLegacyDocker && isLegacyDockerClient(req.headers['user-agent'])) {
      throw new RegistryError('NOT_FOUND', 'this client is too old (docker < 1.6)');
    }
    const route = routeFromUrl(req.url ?? '/', method);
    state.kind = route.kind;
    const needed = requiredAccess(route, method);
    if (needed.kind === 'unsupported') throw new RegistryError('UNSUPPORTED', `${method} is not supported here`);

    const loginRefused = (status: number, reason: LoginRefusalReason) =>
      audit.record(
        loginRefusalRecord({
          user: triedUserName(req.headers.authorization, caller.ssoUser),
          client: state.client,
          method,
          route,
          status,
          reason,
        }),
      );
    let identity: Identity | 'invalid';
    try {
      identity = await options.authenticate({ ...caller, authorization: req.headers.authorization });
    } catch (error) {
      if (isRegistryError(error) && error.code === 'TOOMANYREQUESTS') loginRefused(error.status, 'throttled');
      throw error;
    }
    // The scope a bearer client must ask for; built only when a challenge is sent.
    const scopes = () =>
      route.kind === 'catalog' ? [CATALOG_SCOPE] : needed.kind === 'action' ? challengeScopes(route, needed.action) : [];
    if (identity === 'invalid') {
      const badToken = bearer && /^bearer /i.test(req.headers.authorization ?? '');
      const refused = unauthorized(scopes(), badToken ? 'invalid_token' : undefined);
      loginRefused(refused.status, badToken ? 'invalid-token' : 'invalid-credentials');
      throw refused;
    }
    state.user = identity.user;
    // In bearer mode every request carries a token (an anonymous one at least): the challenge sends the client for it.
    if (bearer && identity.via === 'anonymous') throw unauthorized(scopes());
    const audited = (facts: Omit<AuditFacts, 'identity' | 'client' | 'method' | 'route'>) =>
      audit.record(auditRecord({ identity, client: state.client, method, route, ...facts }));
    const refuse = (action: AuditFacts['action'], reason?: Decision['reason'], message?: string) => {
      const error =
        identity.user === null ? unauthorized(scopes()) : new RegistryError('DENIED', message, { detail: refusalDetail(action) });
      audited({ action, decision: 'deny', rule: -1, status: error.status, reason: reason ?? 'policy' });
      return error;
    };

    if (needed.kind === 'authenticate-only') {
      // A caller who sent nothing is always challenged, even where anonymous callers may pull: clients
      // learn here whether to send credentials at all. One who answered with empty credentials
      // (`Basic Og==`) or an anonymous token has nothing more to send.
      if (identity.user === null && req.headers.authorization === undefined) throw unauthorized(scopes());
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.setHeader('Content-Length', 2);
      res.end(method === 'HEAD' ? undefined : '{}');
      return;
    }
    if (needed.kind === 'catalog') {
      if (!mayListCatalog(policy, identity)) throw refuse('catalog');
      const visible = (repository: string) => showsInCatalog(policy, identity, repository);
      await sendCatalog(res, method, await listVisibleRepositories(backend, visible, new URLSearchParams(route.rawQuery), options.catalog));
      return;
    }

    const decideAndServe = async (): Promise<void> => {
      const authorized = await authorizeRequest(route, needed.action, req, identity, policy, backend);
      if (!authorized.decision.allowed) throw refuse(needed.action, authorized.decision.reason, authorized.refusal);
      if (!scopesAllow(identity, route.repository, needed.action)) {
        // The policy allows it but the token (or robot) was not given this scope: a bearer client asks again.
        const asksAgain = bearer && identity.via === 'token';
        audited({ action: needed.action, decision: 'deny', rule: -1, status: asksAgain ? 401 : 403, reason: 'scope' });
        throw asksAgain
          ? unauthorized(scopes(), 'insufficient_scope')
          : new RegistryError('DENIED', undefined, { detail: refusalDetail(needed.action) });
      }
      if (authorized.mountSourceScopeMissing && bearer && identity.via === 'token') {
        // The policy lets the caller read the mount's source but the token does not say so: ask for both scopes.
        audited({ action: 'mount', decision: 'deny', rule: -1, status: 401, reason: 'scope' });
        throw unauthorized(scopes(), 'insufficient_scope');
      }
      const change = stateChange(authorized.route, method);
      if (change) {
        res.once('finish', () =>
          audit.record(
            auditRecord({
              identity,
              client: state.client,
              method,
              route: authorized.route,
              action: change,
              decision: 'allow',
              rule: authorized.decision.ruleIndex,
              status: res.statusCode,
              responseDigest: responseDigest(res),
            }),
          ),
        );
      }
      const context: RequestContext = {
        route: authorized.route,
        identity,
        clientIp: state.client,
        proto,
        ...facts,
        body: authorized.body,
        tagMustNotMove: authorized.tagMustNotMove,
      };
      const uploadDone = isUpload(route, method) ? options.metrics?.uploadStarted() : undefined;
      try {
        await backend.handle(req, res, context);
      } finally {
        uploadDone?.();
      }
      if (authorized.tagMustNotMove) await checkTagStayed(route, res, audited);
    };
    // The first push of a protected tag: check and write as one step, or two pushes could both create it.
    if (
      route.kind === 'manifest' &&
      method === 'PUT' &&
      !isDigest(route.reference) &&
      policy.hasProtectedTags(identity, route.repository)
    ) {
      await options.tagLock.run(`${route.repository}:${route.reference}`, decideAndServe);
    } else {
      await decideAndServe();
    }
  }

  /**
   * After a conditional push to a protected tag: the tag must name what was pushed. Only a writer
   * outside this server's lock (another replica sharing the upstream without a shared Redis, or a
   * writer that bypasses the gateway) can have moved it; that is logged and audited, as it cannot
   * be undone here.
   */
  async function checkTagStayed(
    route: Route,
    res: ServerResponse,
    audited: (facts: Omit<AuditFacts, 'identity' | 'client' | 'method' | 'route'>) => void,
  ): Promise<void> {
    const pushed = responseDigest(res);
    if (res.statusCode !== 201 || pushed === undefined) return;
    const current = await backend.manifestDigest(route.repository, route.reference).catch(() => undefined);
    if (current === pushed) return;
    options.loggers.app.error(
      { repository: route.repository, tag: route.reference, pushed, current },
      'a protected tag was moved by a concurrent push outside this server',
    );
    audited({ action: 'push', decision: 'deny', rule: -1, status: 409, reason: 'protected-tag-race' });
  }

  return (req, res) => {
    const started = process.hrtime.bigint();
    const peer = normalizeIp(req.socket.remoteAddress ?? '');
    const facts: ForwardingFacts = { peer, peerTrusted: options.trustedProxy(peer), scheme: options.listenerScheme };
    const state: RequestState = { user: null, client: clientAddress(req.headers, facts), kind: 'unknown' };
    if (sso && !facts.peerTrusted) {
      // Nobody but a trusted SSO proxy may say who the user is; nothing after this point sees the claim.
      for (const name of ssoNames) delete req.headers[name];
    }
    const { metrics, accessLog } = options;
    if (accessLog || metrics) {
      onRequestDone(req, res, started, (outcome) => {
        // Health probes come every few seconds from orchestrators: counted, not logged.
        if (accessLog && state.kind !== 'health') logAccess(options.loggers.access, req, state, outcome);
        metrics?.requestFinished({
          kind: state.kind,
          method: req.method,
          status: outcome.status,
          seconds: outcome.ms / 1000,
          bytesIn: outcome.bytesIn,
          bytesOut: outcome.bytesOut,
        });
      });
    }
    return serve(req, res, facts, state).catch((error: unknown) => {
      const failure = toRegistryError(error);
      if (failure.code === 'INTERNAL_ERROR') options.loggers.app.error({ err: error }, 'request failed');
      sendErrorWithLingeringClose(req, res, failure);
    });
  };
}
