/**
 * One request, end to end, as an ordered list of named steps (`serveRegistryRequest` reads as it):
 *
 *   refuse a legacy client → route → identity → decision → signatures → backend
 *
 * Paths that are not the registry API (health, the token endpoint, the web UI) are answered before
 * the first step. Every failure is a RegistryError answered as OCI error JSON, through the error
 * boundary every front end shares (oci/error-boundary.ts); every response under /v2/ carries exactly
 * one Docker-Distribution-Api-Version header; every state change and every refusal leaves one audit
 * record. What may be done is decided in access/ (`decide`), never here. The request's types are in
 * exchange.ts, its refusals (401 challenges, 403 DENIED, their audit records) in refusals.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CredentialRefusal, Identity } from '../auth/identity.js';
import { decide, mayListUnder } from '../access/decide.js';
import type { Action } from '../oci/actions.js';
import type { ForwardingFacts, RequestContext } from '../backend/backend.js';
import { isRegistryError, RegistryError } from '../oci/errors.js';
import { answerFailure, type FrontEnd } from '../oci/error-boundary.js';
import { isTokenPath } from './token-endpoint.js';
import { isBlobTransfer, isUpload, requiredAccess } from './actions.js';
import { authorizeRequest, readManifestBody, type Authorized } from './authorize.js';
import { auditRecord, loginRefusalRecord, type LoginRefusalReason } from '../access/audit-records.js';
import { responseDigest, stateChange, triedUserName } from './audit-events.js';
import { announceEvents } from './events-hook.js';
import { listVisibleRepositories } from '../access/catalog.js';
import { sendCatalog } from './catalog.js';
import { ssoHeaderNames } from '../auth/sso-headers.js';
import { API_VERSION, API_VERSION_HEADER } from '../oci/api-version.js';
import { clientAddress, clientProto, isLegacyDockerClient } from './headers.js';
import { isDigest } from '../oci/names.js';
import { sendJson } from '../oci/respond.js';
import { routeFromUrl } from '../oci/route.js';
import { routeForNamespace } from '../backend/mirrors/index.js';
import { normalizeIp } from '../lib/ip.js';
import { logAccess, onRequestDone } from './access-log.js';
import { healthPath } from './health.js';
import { sendEarlyRefusal } from './early-refusal.js';
import { streamWithoutRequestDeadline } from '../server/request-deadline.js';
import type { Caller, Exchange, GatewayOptions, Identified, RequestState, Routed } from './exchange.js';
import { audited, challengedScopes, isBearerToken, refusal, unauthorized } from './refusals.js';
import { enforceSignatures, noteManifestWrite } from './signatures.js';

export type { GatewayOptions } from './exchange.js';

/** Settles when the pipeline is done with the request (after the response, for a protected tag's check). */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? undefined : value;
}

/** Health, the token endpoint and the web UI answer their own paths; true when one did. */
async function serveOwnPaths(exchange: Exchange): Promise<boolean> {
  const { options, req, res, state, caller } = exchange;
  const url = req.url ?? '/';
  if (options.health && healthPath(url)) {
    state.kind = 'health';
    await options.health(req, res);
  } else if (options.tokenEndpoint && isTokenPath(url)) {
    state.kind = 'token';
    await options.tokenEndpoint(req, res, caller);
  } else if (options.ui?.matches(url)) {
    state.kind = 'ui';
    state.user = await options.ui.handle(req, res, { ...caller, proto: exchange.proto });
  } else {
    return false;
  }
  return true;
}

/** Docker before 1.6 speaks a protocol this gateway does not, when the operator asks to turn it away. */
function refuseLegacyClient({ options, req }: Exchange): void {
  if (options.rejectLegacyDocker && isLegacyDockerClient(req.headers['user-agent'])) {
    throw new RegistryError('NOT_FOUND', 'this client is too old (docker < 1.6)');
  }
}

/**
 * Which route the path names and what it needs (an action, the catalog, or only an identity). A
 * containerd request naming a mirror's registry in `?ns=` is routed, and decided, under the name
 * it maps to (backend/mirrors/mirror-routes.ts).
 */
function routeRequest(exchange: Exchange): Routed {
  const route = routeForNamespace(exchange.options.mirrors ?? [], routeFromUrl(exchange.req.url ?? '/', exchange.method));
  exchange.state.kind = route.kind;
  const needed = requiredAccess(route, exchange.method);
  if (needed.kind === 'unsupported') throw new RegistryError('UNSUPPORTED', `${exchange.method} is not supported here`);
  return { ...exchange, route, needed };
}

/** Who is asking. Failed logins are audited; in bearer mode a request without a token is sent for one. */
async function identify(exchange: Routed): Promise<Identified> {
  const { options, req, state, caller, method, route } = exchange;
  let token: CredentialRefusal | undefined;
  const loginRefused = (status: number, reason: LoginRefusalReason) =>
    options.audit.record(
      loginRefusalRecord({
        user: triedUserName(req.headers.authorization, caller.ssoUser),
        client: state.client,
        method,
        route,
        status,
        reason,
        token,
      }),
    );
  let identity: Identity | 'invalid';
  try {
    const onRefused = (refusal: CredentialRefusal) => (token = refusal);
    identity = await options.authenticate({ ...caller, authorization: req.headers.authorization, onRefused });
  } catch (error) {
    if (isRegistryError(error) && error.code === 'TOOMANYREQUESTS') loginRefused(error.status, 'throttled');
    throw error;
  }
  const bearer = options.scheme === 'bearer';
  if (identity === 'invalid') {
    const badToken = bearer && /^bearer /i.test(req.headers.authorization ?? '');
    const refused = unauthorized(exchange, challengedScopes(exchange), badToken ? 'invalid_token' : undefined);
    loginRefused(refused.status, badToken ? 'invalid-token' : 'invalid-credentials');
    throw refused;
  }
  state.user = identity.user;
  // In bearer mode every request carries a token (an anonymous one at least): the challenge sends the client for it.
  if (bearer && identity.via === 'anonymous') throw unauthorized(exchange, challengedScopes(exchange));
  return { ...exchange, identity };
}

/**
 * `GET /v2/`: a caller who sent nothing is always challenged, even where anonymous callers may pull:
 * clients learn here whether to send credentials at all. One who answered with empty credentials
 * (`Basic Og==`) or an anonymous token has nothing more to send.
 */
function answerBase(exchange: Identified): void {
  const { req, res, method, identity } = exchange;
  if (identity.user === null && req.headers.authorization === undefined) throw unauthorized(exchange, challengedScopes(exchange));
  sendJson(res, method, 200, {});
}

/** `GET /v2/_catalog`: the decision on listing at all, then on each name the backend lists. */
async function serveCatalog(exchange: Identified): Promise<void> {
  const { options, res, method, identity, route } = exchange;
  const { policy } = options;
  const decision = decide(policy, identity, { kind: 'catalog' });
  // Audited as a refusal by the rules, as it always was, whatever limited it.
  if (!decision.allowed) throw refusal(exchange, 'catalog', 'policy');
  const filter = {
    shows: (repository: string) => decide(policy, identity, { kind: 'catalog-entry', repository }).allowed,
    mayShowUnder: (prefix: string) => mayListUnder(policy, identity, prefix),
  };
  const query = new URLSearchParams(route.rawQuery);
  sendCatalog(res, method, await listVisibleRepositories(options.backend, filter, query, options.catalog));
}

/**
 * The decision on the action the request needs, as access/ makes it; a refusal is thrown.
 * `manifest`: the body, when it was read before the protected-tag lock.
 */
async function decideAccess(exchange: Identified, action: Action, manifest?: Buffer): Promise<Authorized> {
  const { options, req, identity, route } = exchange;
  const bodyAccess = { deadlineMs: options.bodyTimeoutMs, manifest };
  const authorized = await authorizeRequest(route, action, req, identity, options.policy, options.backend, bodyAccess);
  const { decision } = authorized;
  if (!decision.allowed) throw refusal(exchange, action, decision.reason, authorized.refusal);
  if (authorized.mountSourceScopeMissing && isBearerToken(exchange)) {
    // The rules let the caller read the mount's source but the token does not say so: ask for both scopes.
    audited(exchange, { action: 'mount', decision: 'deny', rule: -1, status: 401, reason: 'scope' });
    throw unauthorized(exchange, challengedScopes(exchange), 'insufficient_scope');
  }
  return authorized;
}

/** The backend serves what was decided; a state change is audited once the response is done. */
async function forwardToBackend(exchange: Identified, authorized: Authorized): Promise<void> {
  const { options, req, res, method, identity, state, route, facts } = exchange;
  const change = stateChange(authorized.route, method);
  if (change) {
    res.once('finish', () => {
      const rule = authorized.decision.ruleIndex;
      options.audit.record(
        auditRecord({
          ...{ identity, client: state.client, method, route: authorized.route },
          ...{ action: change, decision: 'allow', rule, status: res.statusCode, responseDigest: responseDigest(res) },
        }),
      );
    });
  }
  const context: RequestContext = {
    route: authorized.route,
    identity,
    clientIp: state.client,
    proto: exchange.proto,
    ...facts,
    body: authorized.body,
    tagMustNotMove: authorized.tagMustNotMove,
  };
  if (isBlobTransfer(route, method)) streamWithoutRequestDeadline(req);
  const eventPlace =
    options.events &&
    announceEvents(
      options.events,
      { req, res, method, route: authorized.route, identity, client: state.client, body: authorized.body },
      (error) => storingEventFailed(exchange, error),
    );
  const uploadDone = isUpload(route, method) ? options.metrics?.uploadStarted() : undefined;
  try {
    await options.backend.handle(req, res, context);
  } finally {
    uploadDone?.();
    eventPlace?.release();
  }
  if (authorized.tagMustNotMove) await checkTagStayed(exchange);
}

/** The change happened but its event could not be stored: the client's connection is destroyed instead of a success. */
function storingEventFailed({ options, route }: Identified, error: unknown): void {
  options.loggers.app.error({ err: error, repository: route.repository }, 'an event could not be stored: the response was not sent');
}

/**
 * After a conditional push to a protected tag: the tag must name what was pushed. Only a writer
 * outside this server's lock (another replica sharing the upstream without a shared Redis, or a
 * writer that bypasses the gateway) can have moved it; that is logged and audited, as it cannot
 * be undone here.
 */
async function checkTagStayed(exchange: Identified): Promise<void> {
  const { options, res, route } = exchange;
  const pushed = responseDigest(res);
  if (res.statusCode !== 201 || pushed === undefined) return;
  const current = await options.backend.manifestDigest(route.repository, route.reference).catch(() => undefined);
  if (current === pushed) return;
  options.loggers.app.error(
    { repository: route.repository, tag: route.reference, pushed, current },
    'a protected tag was moved by a concurrent push outside this server',
  );
  audited(exchange, { action: 'push', decision: 'deny', rule: -1, status: 409, reason: 'protected-tag-race' });
}

/** The first push of a protected tag: decision and write as one step, or two pushes could both create it. */
function needsTagLock({ options, method, route, identity }: Identified): boolean {
  return (
    route.kind === 'manifest' &&
    method === 'PUT' &&
    !isDigest(route.reference) &&
    options.policy.hasProtectedTags(identity, route.repository)
  );
}

/** The registry API, step by step. */
async function serveRegistryRequest(exchange: Exchange): Promise<void> {
  exchange.res.setHeader(API_VERSION_HEADER, API_VERSION);
  refuseLegacyClient(exchange);
  const routed = routeRequest(exchange);
  const identified = await identify(routed);
  const { needed } = routed;
  if (needed.kind === 'authenticate-only') {
    answerBase(identified);
    return;
  }
  if (needed.kind === 'catalog') {
    await serveCatalog(identified);
    return;
  }
  const decideAndServe = async (manifest?: Buffer) => {
    const authorized = await decideAccess(identified, needed.action, manifest);
    await forwardToBackend(identified, await enforceSignatures(identified, authorized));
    noteManifestWrite(identified);
  };
  if (needsTagLock(identified)) {
    const { options, req, route } = identified;
    // Read whole, under its deadline, before the lock: a pusher who stalls mid-body then holds its own
    // connection only, and the lock is held for the compare-and-write alone.
    const manifest = await readManifestBody(req, options.bodyTimeoutMs);
    await options.tagLock.run(`${route.repository}:${route.reference}`, () => decideAndServe(manifest));
  } else {
    await decideAndServe();
  }
}

export function createGateway(options: GatewayOptions): RequestHandler {
  const sso = options.trustedHeader && {
    user: options.trustedHeader.user.toLowerCase(),
    groups: options.trustedHeader.groups?.toLowerCase(),
  };
  const ssoNames = ssoHeaderNames(options.trustedHeader);

  // Every failure of a /v2/ request is OCI error JSON, after the body the client may still be sending.
  const frontEnd: FrontEnd = { log: options.loggers.app, failed: 'request failed', answer: sendEarlyRefusal };

  async function serve(req: IncomingMessage, res: ServerResponse, facts: ForwardingFacts, state: RequestState): Promise<void> {
    const caller: Caller = {
      clientIp: state.client,
      ssoUser: sso && facts.peerTrusted ? single(req.headers[sso.user]) : undefined,
      ssoGroups: sso?.groups && facts.peerTrusted ? single(req.headers[sso.groups]) : undefined,
    };
    const exchange: Exchange = {
      options,
      req,
      res,
      method: req.method ?? 'GET',
      facts,
      state,
      caller,
      proto: clientProto(req.headers, facts),
    };
    if (await serveOwnPaths(exchange)) return;
    await serveRegistryRequest(exchange);
  }

  return (req, res) => {
    const started = process.hrtime.bigint();
    const peer = normalizeIp(req.socket.remoteAddress ?? '');
    const facts: ForwardingFacts = { peer, peerTrusted: options.trustedProxy(peer), scheme: options.listenerScheme };
    const state: RequestState = { user: null, client: clientAddress(req.headers, facts), kind: 'unknown' };
    if (sso && !facts.peerTrusted) {
      // Nobody but a trusted SSO proxy may say who the user is; nothing after this point sees the claim.
      for (const name of ssoNames) Reflect.deleteProperty(req.headers, name);
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
      answerFailure(req, res, error, frontEnd);
    });
  };
}
