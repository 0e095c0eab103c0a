/**
 * Bearer mode at the gateway: the challenge that sends clients to the token endpoint, reading
 * `Authorization: Bearer …`, and the identity a verified token stands for.
 *
 *   WWW-Authenticate: Bearer realm="https://gate.example/auth/token",service="registry-gate",scope="repository:team/app:pull,push"
 *
 * (RFC 6750 §3; docs/spec/auth/token.md). `error="invalid_token"` is added when a token was sent
 * but did not verify, `error="insufficient_scope"` when it verified but does not cover the request;
 * a client then asks the token endpoint again for the scope in the challenge.
 */
import { createHash } from 'node:crypto';
import { ANONYMOUS, type Identity } from '../identity.js';
import { authorizationScheme, MAX_AUTHORIZATION_HEADER_LENGTH, quotedString } from '../authorization-header.js';
import type { Action } from '../../oci/actions.js';
import type { AccessTokenClaims, TokenService } from './service.js';
import { CATALOG, formatScope, REPOSITORY } from './scope.js';
import { InvalidTokenError } from './types.js';
import { federationOf } from './federated-claim.js';

export interface BearerChallengeOptions {
  /** The token endpoint's absolute URL. */
  readonly realm: string;
  readonly service: string;
  /** The scope(s) the request needs; several are sent space-separated in one `scope` parameter. */
  readonly scope?: string | readonly string[];
  readonly error?: 'invalid_token' | 'insufficient_scope';
}

/** The `WWW-Authenticate` value for a 401 in bearer mode. */
export function bearerChallenge(options: BearerChallengeOptions): string {
  const scopes = options.scope === undefined ? [] : typeof options.scope === 'string' ? [options.scope] : [...options.scope];
  const params = [`realm=${quotedString(options.realm)}`, `service=${quotedString(options.service)}`];
  if (scopes.length > 0) params.push(`scope=${quotedString(scopes.join(' '))}`);
  if (options.error) params.push(`error=${quotedString(options.error)}`);
  return `Bearer ${params.join(',')}`;
}

/**
 * The scope a request for `action` on `repository` needs, as Distribution words it: a push asks
 * for `pull,push` (clients push and read back in one session), pull and delete for themselves.
 */
export function scopeForRequest(repository: string, action: Action): string {
  const actions = action === 'push' ? ['pull', 'push'] : [action];
  return formatScope({ type: REPOSITORY, name: repository, actions });
}

/** The scope `GET /v2/_catalog` needs. */
export const CATALOG_SCOPE = formatScope(CATALOG);

// RFC 6750 §2.1 b64token.
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** The token of a `Bearer` header; 'absent' without a header, 'other-scheme' for Basic and the like. */
export function parseBearerAuthorization(header: string | undefined): { token: string } | 'absent' | 'other-scheme' | 'malformed' {
  if (header === undefined) return 'absent';
  if (header.length > MAX_AUTHORIZATION_HEADER_LENGTH) return 'malformed';
  const scheme = authorizationScheme(header);
  if (scheme === undefined) return 'malformed';
  if (scheme !== 'bearer') return 'other-scheme';
  const token = header.trim().slice('bearer'.length).trim();
  return B64TOKEN.test(token) ? { token } : 'malformed';
}

/**
 * The caller a verified access token stands for: its subject (null when anonymous) and groups,
 * limited to the token's access claim, until the token expires; for a federated caller, the claims
 * the rules name, as the token carries them.
 */
export function identityFromToken(claims: AccessTokenClaims): Identity {
  return Object.freeze({
    user: claims.sub === '' ? null : claims.sub,
    groups: Object.freeze([...claims.groups]),
    via: 'token' as const,
    tokenAccess: claims.access,
    validUntil: claims.exp * 1000,
    ...(claims.federated ? federationOf(claims.federated, (claims.exp - claims.iat) * 1000) : {}),
  });
}

/** What the authenticator reads of a request: the project's `AuthRequest` fits. */
export interface BearerAuthRequest {
  readonly authorization: string | undefined;
  /** Set only from a trusted SSO proxy; such a request is never a bearer request. */
  readonly ssoUser?: string | undefined;
}

export interface BearerAuthenticatorOptions<R extends BearerAuthRequest> {
  readonly tokens: TokenService;
  /** Where everything but a bearer token goes (Basic, SSO headers, no header); without it only bearer tokens are accepted. */
  readonly basic?: (request: R) => Promise<Identity | 'invalid'>;
  /** Told why a token was refused (debug logging; never the token). */
  readonly onInvalidToken?: (reason: string) => void;
}

/**
 * Tokens that verified, until they expire: a client sends the same token with every request of a
 * push or pull, and a signature check per request would cost more than Basic auth with a warm
 * credential cache. Keyed by the token's SHA-256, so only the exact token verified is a hit; bounded.
 */
class VerifiedTokens {
  readonly #entries = new Map<string, { identity: Identity; until: number }>();

  get(key: string, now: number): Identity | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.until > now) return entry.identity;
    this.#entries.delete(key);
    return undefined;
  }

  set(key: string, identity: Identity, until: number): void {
    if (this.#entries.size >= VERIFIED_TOKENS_MAX) this.#entries.delete(this.#entries.keys().next().value as string);
    this.#entries.set(key, { identity, until });
  }
}

const VERIFIED_TOKENS_MAX = 10_000;

/**
 * An authenticator for bearer mode: a bearer token that verifies is its identity, one that does
 * not is 'invalid'; anything else goes to `basic` (or is the anonymous caller without a header).
 */
export function createBearerAuthenticator<R extends BearerAuthRequest>(
  options: BearerAuthenticatorOptions<R>,
): (request: R) => Promise<Identity | 'invalid'> {
  const verified = new VerifiedTokens();
  return async (request) => {
    const parsed = request.ssoUser === undefined ? parseBearerAuthorization(request.authorization) : 'other-scheme';
    if (parsed === 'malformed') return 'invalid';
    if (typeof parsed === 'object') {
      const key = createHash('sha256').update(parsed.token).digest('base64');
      const now = Date.now();
      const known = verified.get(key, now);
      if (known) return known;
      try {
        const claims = await options.tokens.verifyAccessToken(parsed.token);
        const identity = identityFromToken(claims);
        verified.set(key, identity, claims.exp * 1000);
        return identity;
      } catch (error) {
        if (!(error instanceof InvalidTokenError)) throw error;
        options.onInvalidToken?.(error.reason);
        return 'invalid';
      }
    }
    if (options.basic) return options.basic(request);
    return parsed === 'absent' ? ANONYMOUS : 'invalid';
  };
}
