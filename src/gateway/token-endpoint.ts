/**
 * The Docker token endpoint (docs/spec/auth/token.md and oauth.md in distribution/distribution):
 *
 *   GET  /auth/token?service=S&scope=repository:team/app:pull,push[&scope=…][&offline_token=true][&account=U][&client_id=C]
 *        with Basic credentials, or none for an anonymous caller
 *   POST /auth/token   application/x-www-form-urlencoded, the OAuth2 grants:
 *        grant_type=password&username=U&password=P&service=S[&scope=…][&access_type=offline][&client_id=C]
 *        grant_type=refresh_token&refresh_token=R&service=S[&scope=…][&access_type=offline][&client_id=C]
 *        grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token=JWT
 *          &subject_token_type=urn:ietf:params:oauth:token-type:jwt|id_token&service=S[&scope=…]   (RFC 8693)
 *   GET  /auth/jwks    the public signing keys (JWKS)
 *
 * → 200 {"token","access_token","expires_in","issued_at","scope"[, "refresh_token"]}
 *
 * The token carries what the caller asked for AND may do (partial or empty grants are not errors:
 * the registry refuses what the token does not cover). A refresh re-checks the refresh token's
 * subject with its provider and reads its groups afresh (`refreshIdentity`): a deleted user, a
 * changed password, a user whose sessions were revoked, a revoked robot or one made anew under the
 * old name gets no more tokens, and a group left is a right lost. Refresh tokens go only to subjects that can be re-checked so (not to an SSO proxy's
 * users). Wrong credentials, an unusable refresh token or a refused subject are one generic 401
 * UNAUTHORIZED (with a Basic challenge on GET, the scheme GET uses), and each leaves a `login` /
 * `deny` audit record with the name tried and why, as does a 429 from the login throttle (a token issued
 * leaves a `token-grant` record: who, by which grant, the scopes granted); a request
 * for another service, a malformed one, or one naming more than MAX_SCOPES scopes is a 400 (before
 * any credential is checked). Bodies are read up to MAX_TOKEN_REQUEST_BYTES.
 * Every answer is `Cache-Control: no-store` (RFC 6749 §5.1).
 *
 * The token exchange takes a federated token (auth.federation) only, and answers a token of this
 * gateway's own, never the one it was given: limited to the requested scopes the policy allows,
 * living at most min(the federated token's `exp`, its policy's `maxTokenLifetime`), with no
 * refresh token (token-exchange.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { AuditSink } from '../access/audit.js';
import type { AccessPolicy } from '../access/policy.js';
import type { AuthRequest } from '../auth/authenticate.js';
import type { CredentialRefusal, Credentials, Identity } from '../auth/identity.js';
import { grantAccess } from '../access/grant.js';
import { mayRefresh, type RefreshIdentity } from '../auth/token/refresh-subject.js';
import { formatScopeList, parseScopeList } from '../auth/token/scope.js';
import type { TokenService } from '../auth/token/service.js';
import { InvalidTokenError, type ResourceScope } from '../auth/token/types.js';
import { RegistryError, toRegistryError } from '../oci/errors.js';
import { answerFailure, type FrontEnd } from '../oci/error-boundary.js';
import { sendJson } from '../oci/respond.js';
import { readBodyWithLimit } from '../lib/read-body.js';
import { loginRefusalRecord, tokenGrantRecord, type LoginRefusalReason } from '../access/audit-records.js';
import { triedUserName } from './audit-events.js';
import { basicChallengeHeader } from '../auth/authorization-header.js';
import { splitRequestTarget } from '../oci/request-target.js';
import { sendEarlyRefusal } from './early-refusal.js';
import { ISSUED_TOKEN_TYPE, readExchangeAsk, TOKEN_EXCHANGE_GRANT, type ExchangeToken } from './token-exchange.js';

export const TOKEN_PATH = '/auth/token';
export const JWKS_PATH = '/auth/jwks';
export const MAX_TOKEN_REQUEST_BYTES = 64 * 1024;

/** True for the paths this endpoint serves (a query string, if any, is ignored). */
export function isTokenPath(pathname: string): boolean {
  const { path } = splitRequestTarget(pathname);
  return path === TOKEN_PATH || path === JWKS_PATH;
}

/**
 * The realm when `auth.token.realm` is not configured: this endpoint at the scheme and Host the
 * client used to reach the gateway (undefined for a Host that is not a plain host[:port]).
 */
export function realmFromRequest(proto: string, host: string | undefined): string | undefined {
  if (host === undefined || !/^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/.test(host)) return undefined;
  return `${proto}://${host}${TOKEN_PATH}`;
}

export interface TokenEndpointDeps {
  readonly tokens: TokenService;
  readonly policy: AccessPolicy;
  /**
   * The caller of a GET from its request (Basic credentials, none, or a trusted SSO header):
   * the gateway's own basic-mode authentication, given the request so that it can resolve the
   * client address and trusted headers as the pipeline does.
   */
  readonly authenticate: (request: AuthRequest) => Promise<Identity | 'invalid'>;
  /** User and password of the OAuth2 password grant (with the client's address) → identity with its groups, or null. */
  readonly verifyPassword: (credentials: Credentials) => Promise<Identity | null>;
  /** The realm of the Basic challenge on a failed GET. */
  readonly realm: string;
  /**
   * A refresh token's subject, asked of its provider again, with its groups now: the identity to
   * issue for, or null (deleted, revoked, re-created). Required: what the token recorded is never
   * enough on its own.
   */
  readonly refreshIdentity: RefreshIdentity;
  /** RFC 8693: a federated token → its identity with its groups, or null (the refusal told to `onRefused`). */
  readonly exchangeToken?: ExchangeToken;
  /** Where refused logins are recorded. */
  readonly audit?: AuditSink;
  /** Told of each token issued (metrics). */
  readonly onIssued?: (kind: 'access' | 'refresh') => void;
  /** Default MAX_TOKEN_REQUEST_BYTES. */
  readonly maxBodyBytes?: number;
  /** How long a token request's form may take to arrive (`server.bodyTimeout`): it is read before anyone is authenticated. */
  readonly bodyTimeoutMs: number;
  readonly logger?: Logger;
}

/** What the gateway already resolved about the caller: its address, and a trusted SSO proxy's claim. */
export type CallerFacts = Omit<AuthRequest, 'authorization'>;

export type TokenEndpoint = (req: IncomingMessage, res: ServerResponse, caller: CallerFacts) => Promise<void>;

const FORM = 'application/x-www-form-urlencoded';
// RFC 6749 Appendix A.1: client_id = *VSCHAR.
const CLIENT_ID = /^[\x20-\x7e]{0,256}$/;
/** Token responses must not be cached (RFC 6749 §5.1); the public keys may be, briefly. */
const NOT_CACHED = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

/** The endpoint as its steps see it: what it was made with, and what was derived from that once. */
interface Endpoint {
  readonly deps: TokenEndpointDeps;
  readonly maxBodyBytes: number;
  /** The Basic challenge of a refused GET. */
  readonly basicChallenge: string;
  readonly frontEnd: FrontEnd;
}

/** Who tried to get a token on this request and, once refused, why: for the audit record. */
interface Attempt {
  user: string | null;
  refused?: LoginRefusalReason;
  /** A federated token's failed check. */
  token?: CredentialRefusal;
}

/** One request to the endpoint, as its steps see it. */
interface TokenExchange {
  readonly endpoint: Endpoint;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly caller: CallerFacts;
  readonly method: string;
  readonly attempt: Attempt;
}

/** What a token request asks for, read and checked before anyone is authenticated. */
type TokenAsk =
  /** GET: for the caller of the request itself (Basic credentials, none, or a trusted SSO header). */
  | { readonly grant: 'caller'; readonly scopes: ResourceScope[]; readonly params: URLSearchParams }
  | {
      readonly grant: 'password';
      readonly scopes: ResourceScope[];
      readonly offline: boolean;
      readonly user: string;
      readonly password: string;
    }
  | { readonly grant: 'refresh_token'; readonly scopes: ResourceScope[]; readonly offline: boolean; readonly refreshToken: string }
  | { readonly grant: 'token-exchange'; readonly scopes: ResourceScope[]; readonly subjectToken: string };

/** What the answer carries besides the access token: a new refresh token, the one refreshed with, or none. */
type RefreshAnswer = { readonly issue: true } | { readonly echo: string } | undefined;

/** Who the token is for, once authenticated. */
interface Grantee {
  readonly identity: Identity;
  readonly refresh: RefreshAnswer;
  /** An RFC 8693 exchange: the answer says what it issued (`issued_token_type`, `token_type`). */
  readonly exchanged?: true;
}

export function createTokenEndpoint(deps: TokenEndpointDeps): TokenEndpoint {
  const endpoint: Endpoint = {
    deps,
    maxBodyBytes: deps.maxBodyBytes ?? MAX_TOKEN_REQUEST_BYTES,
    basicChallenge: basicChallengeHeader(deps.realm),
    frontEnd: { log: deps.logger, failed: 'token request failed', answer: answerTokenFailure },
  };
  return async (req, res, caller) => {
    const exchange: TokenExchange = { endpoint, req, res, caller, method: req.method ?? 'GET', attempt: { user: null } };
    try {
      await serveTokenRequest(exchange);
    } catch (error) {
      auditRefusedLogin(exchange, toRegistryError(error));
      answerFailure(req, res, error, endpoint.frontEnd);
    }
  };
}

/** The token endpoint, step by step: what is asked → who asks (per grant) → what they get. */
async function serveTokenRequest(exchange: TokenExchange): Promise<void> {
  const { path: pathname, query } = splitRequestTarget(exchange.req.url ?? '/');
  if (pathname === JWKS_PATH) {
    answerPublicKeys(exchange);
    return;
  }
  if (pathname !== TOKEN_PATH) throw new RegistryError('NOT_FOUND');
  const asked = await readTokenRequest(exchange, new URLSearchParams(query));
  const grantee = await authenticateGrant(exchange, asked);
  await answerToken(exchange, grantee, asked);
}

function answerPublicKeys({ endpoint, res, method }: TokenExchange): void {
  if (method !== 'GET' && method !== 'HEAD') throw new RegistryError('UNSUPPORTED', undefined, { headers: { Allow: 'GET, HEAD' } });
  sendJson(res, method, 200, endpoint.deps.tokens.keys.jwks(), { 'Cache-Control': 'public, max-age=60' });
}

function badRequest(message: string): RegistryError {
  return new RegistryError('REQUEST_INVALID', message);
}

/** The one value of a parameter that may appear at most once. */
function single(params: URLSearchParams, name: string): string | undefined {
  const values = params.getAll(name);
  if (values.length > 1) throw badRequest(`${name} must be given once`);
  return values[0];
}

/** The parameters every grant shares: the service (required in a form), the client id. */
function checkCommon(endpoint: Endpoint, params: URLSearchParams, serviceRequired: boolean): void {
  const { service: served } = endpoint.deps.tokens;
  const service = single(params, 'service');
  if (service === undefined ? serviceRequired : service !== served)
    throw badRequest(`unknown service; this token service serves ${JSON.stringify(served)}`);
  const clientId = single(params, 'client_id');
  if (clientId !== undefined && !CLIENT_ID.test(clientId)) throw badRequest('invalid client_id');
}

/** A GET's query or a POST's form, read and checked; any other method is refused. */
async function readTokenRequest(exchange: TokenExchange, query: URLSearchParams): Promise<TokenAsk> {
  const { endpoint, method } = exchange;
  if (method === 'GET') {
    checkCommon(endpoint, query, false);
    return { grant: 'caller', scopes: parseScopeList(query.getAll('scope')), params: query };
  }
  if (method !== 'POST') throw new RegistryError('UNSUPPORTED', undefined, { headers: { Allow: 'GET, POST' } });
  const params = await readForm(exchange);
  checkCommon(endpoint, params, true);
  const scopes = parseScopeList(params.getAll('scope'));
  const offline = single(params, 'access_type') === 'offline';
  const grantType = single(params, 'grant_type');
  if (grantType === 'password') {
    const user = single(params, 'username');
    const password = single(params, 'password');
    if (user === undefined || password === undefined) throw badRequest('grant_type=password needs username and password');
    return { grant: 'password', scopes, offline, user, password };
  }
  if (grantType === 'refresh_token') {
    const refreshToken = single(params, 'refresh_token');
    if (!refreshToken) throw badRequest('grant_type=refresh_token needs refresh_token');
    return { grant: 'refresh_token', scopes, offline, refreshToken };
  }
  if (grantType === TOKEN_EXCHANGE_GRANT && endpoint.deps.exchangeToken)
    return { grant: 'token-exchange', scopes, ...readExchangeAsk(params) };
  throw badRequest(grantType === undefined ? 'grant_type is required' : 'unsupported grant_type (use password or refresh_token)');
}

/** The form body, capped: an oversized one is refused and the connection closed, nothing more is read. */
async function readForm({ endpoint, req }: TokenExchange): Promise<URLSearchParams> {
  const mediaType = (req.headers['content-type'] ?? '').split(';', 1)[0]?.trim().toLowerCase();
  if (mediaType !== FORM) throw new RegistryError('UNSUPPORTED_MEDIA_TYPE', `the body must be ${FORM}`);
  const tooLarge = (max: number, closeConnection: boolean) =>
    new RegistryError('TOO_LARGE', `the request body is larger than ${max} bytes`, {
      ...(closeConnection ? { headers: { Connection: 'close' } } : {}),
    });
  const deadlineMs = endpoint.deps.bodyTimeoutMs;
  const body = await readBodyWithLimit(req, endpoint.maxBodyBytes, { deadlineMs, discardUpTo: 0, tooLarge });
  return new URLSearchParams(body.toString('utf8'));
}

/** The one generic 401 (with the Basic challenge on a GET, the scheme GET uses); the reason goes to the audit record only. */
function refuse({ endpoint, attempt }: TokenExchange, reason: LoginRefusalReason, challenge: boolean): RegistryError {
  attempt.refused = reason;
  return new RegistryError('UNAUTHORIZED', undefined, challenge ? { headers: { 'WWW-Authenticate': endpoint.basicChallenge } } : {});
}

/** Who asks, as each grant says it. */
async function authenticateGrant(exchange: TokenExchange, asked: TokenAsk): Promise<Grantee> {
  switch (asked.grant) {
    case 'caller':
      return authenticateCaller(exchange, asked.params);
    case 'password': {
      const { user, password } = asked;
      exchange.attempt.user = user;
      const verify = exchange.endpoint.deps.verifyPassword;
      const onRefused = (refusal: CredentialRefusal) => (exchange.attempt.token = refusal);
      const identity = user === '' ? null : await verify({ user, password, clientIp: exchange.caller.clientIp, onRefused });
      if (!identity) throw refuse(exchange, 'invalid-credentials', false);
      return { identity, refresh: asked.offline ? { issue: true } : undefined };
    }
    case 'refresh_token': {
      const identity = await refreshSubject(exchange, asked.refreshToken);
      // oauth.md: a refresh grant returns the same refresh token, never a new one.
      return { identity, refresh: asked.offline ? { echo: asked.refreshToken } : undefined };
    }
    case 'token-exchange': {
      const exchangeToken = exchange.endpoint.deps.exchangeToken as ExchangeToken;
      const onRefused = (refusal: CredentialRefusal) => (exchange.attempt.token = refusal);
      const identity = await exchangeToken(asked.subjectToken, exchange.caller.clientIp, onRefused);
      if (!identity) throw refuse(exchange, 'invalid-federated-token', false);
      exchange.attempt.user = identity.user;
      return { identity, refresh: undefined, exchanged: true };
    }
  }
}

/** A GET's caller, as the gateway authenticates it; Docker's `account` must name the same user. */
async function authenticateCaller(exchange: TokenExchange, params: URLSearchParams): Promise<Grantee> {
  const { endpoint, req, caller, attempt } = exchange;
  attempt.user = triedUserName(req.headers.authorization, caller.ssoUser);
  const onRefused = (refusal: CredentialRefusal) => (attempt.token = refusal);
  const identity = await endpoint.deps.authenticate({ ...caller, authorization: req.headers.authorization, onRefused });
  if (identity === 'invalid') throw refuse(exchange, 'invalid-credentials', true);
  // Docker sends its user name as `account`; a different one than the credentials' is refused. A
  // federated token stands for the name its policy makes, whatever name the client typed beside it.
  const account = single(params, 'account');
  const accountName = identity.federation ? attempt.user : identity.user;
  if (identity.user !== null && account !== undefined && account !== '' && account !== accountName)
    throw refuse(exchange, 'account-mismatch', true);
  const offline = single(params, 'offline_token') === 'true';
  return { identity, refresh: offline ? { issue: true } : undefined };
}

/** The identity a refresh token may still get tokens for; throws the generic 401 when none. */
async function refreshSubject(exchange: TokenExchange, refreshToken: string): Promise<Identity> {
  const { deps } = exchange.endpoint;
  let claims;
  try {
    claims = await deps.tokens.verifyRefreshToken(refreshToken);
  } catch (error) {
    if (error instanceof InvalidTokenError) {
      deps.logger?.debug({ reason: error.reason }, 'refresh token refused');
      throw refuse(exchange, 'invalid-refresh-token', false);
    }
    throw error;
  }
  exchange.attempt.user = claims.sub;
  const identity = await deps.refreshIdentity({
    user: claims.sub,
    via: claims.via,
    subjectId: claims.subjectId,
    credentialStamp: claims.credentialStamp,
    issuedAt: claims.issuedAtMs,
  });
  if (!identity) {
    deps.logger?.debug({ user: claims.sub }, 'refresh token subject refused');
    throw refuse(exchange, 'refresh-subject-refused', false);
  }
  return identity;
}

/** What the grantee may have of what it asked for (access/grant.ts), signed, with its refresh token. */
async function answerToken(
  { endpoint, res, method, caller }: TokenExchange,
  { identity, refresh, exchanged }: Grantee,
  { scopes, grant }: TokenAsk,
): Promise<void> {
  const { deps } = endpoint;
  const access = grantAccess(deps.policy, identity, scopes);
  const issued = await deps.tokens.issueAccessToken(identity, access);
  deps.onIssued?.('access');
  const scope = formatScopeList(access);
  const body: Record<string, unknown> = {
    token: issued.token,
    access_token: issued.token,
    expires_in: issued.expiresIn,
    issued_at: issued.issuedAt.toISOString(),
    scope,
    ...(exchanged ? { issued_token_type: ISSUED_TOKEN_TYPE, token_type: 'Bearer' } : {}),
  };
  if (refresh && 'echo' in refresh) body.refresh_token = refresh.echo;
  else if (refresh && mayRefresh(identity)) {
    body.refresh_token = await deps.tokens.issueRefreshToken(identity);
    deps.onIssued?.('refresh');
  }
  deps.audit?.record(tokenGrantRecord({ identity, client: caller.clientIp, method, grant, scope, endpoint: TOKEN_PATH }));
  deps.logger?.debug({ user: identity.user, scope }, 'token issued');
  sendJson(res, method, 200, body, NOT_CACHED);
}

/** A refused login (wrong credentials, an unusable refresh token, a throttled name) leaves its audit record. */
function auditRefusedLogin({ endpoint, caller, method, attempt }: TokenExchange, failure: RegistryError): void {
  const reason = failure.code === 'TOOMANYREQUESTS' ? 'throttled' : attempt.refused;
  if (!reason) return;
  endpoint.deps.audit?.record(
    loginRefusalRecord({
      user: attempt.user,
      client: caller.clientIp,
      method,
      status: failure.status,
      reason,
      endpoint: TOKEN_PATH,
      token: attempt.token,
    }),
  );
}

/** OCI error JSON, never cached, after the early-refusal handling of a body not read yet. */
function answerTokenFailure(req: IncomingMessage, res: ServerResponse, failure: RegistryError): void {
  for (const [name, value] of Object.entries(NOT_CACHED)) res.setHeader(name, value);
  sendEarlyRefusal(req, res, failure);
}
