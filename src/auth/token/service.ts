/**
 * Issuing and verifying tokens (docs/spec/auth/jwt.md in distribution/distribution).
 *
 * An access token is a JWT with header `{typ: "JWT", alg, kid, x5c}` and the claims `iss`, `sub`
 * (the user, '' for an anonymous caller), `aud` (the service), `exp`, `nbf`, `iat`, `jti`, `access`
 * and, for this gateway's own re-check of the policy, `groups`. It lives `expiresIn` (never less
 * than 60 s: older clients assume at least that).
 *
 * A refresh token (OAuth2 `refresh_token`, docs/spec/auth/oauth.md) is a JWT of another type:
 * header `typ: "rg-refresh+jwt"` and an audience no registry accepts (`REFRESH_AUDIENCE_PREFIX` +
 * service), so it can never be used as an access token, here or at a Distribution registry. It
 * names the subject, the provider that verified it (`via`), the account's id where the provider
 * keeps one (`subject_id`: a robot's id), the stamp of the credential it was issued for
 * (`credential_stamp`, an HMAC that reveals nothing of it), when it was issued to the millisecond
 * (`issued_at_ms`: `token revoke --user` ends what was issued before it, and a login a moment after
 * must not count as before) and the groups it had then, and lives
 * `refreshExpiresIn`. It is not enough on its own: every refresh asks the provider again, and
 * a credential with another stamp now gets nothing (see token-endpoint.ts, refresh-subject.ts).
 *
 * Verification accepts the current key and, after a rotation, the previous key for tokens issued
 * before it was retired, until their lifetime after the retirement has passed. The header's `alg`
 * must be the algorithm of the key its `kid` names (so `none`, or HS256 keyed with a public key,
 * never verify), `iss` and `aud` must match, and `exp`/`nbf` get a small leeway for clock skew.
 */
import { randomBytes } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT, type JWTHeaderParameters, type JWTPayload } from 'jose';
import type { Identity } from '../identity.js';
import type { TokenAccess } from './types.js';
import { InvalidTokenError } from './types.js';
import type { SigningKey, SigningKeys } from './keys.js';
import { InternalError } from '../../lib/internal-errors.js';
import { federatedClaimOf, parseFederatedClaim, type FederatedClaim } from './federated-claim.js';

export const ACCESS_TOKEN_TYPE = 'JWT';
export const REFRESH_TOKEN_TYPE = 'rg-refresh+jwt';
export const REFRESH_AUDIENCE_PREFIX = 'registry-gate-refresh:';
export const MIN_EXPIRES_IN_MS = 60_000;
export const DEFAULT_EXPIRES_IN_MS = 300_000;
export const DEFAULT_REFRESH_EXPIRES_IN_MS = 30 * 86_400_000;
export const DEFAULT_LEEWAY_MS = 30_000;
const MAX_ACCESS_ENTRIES = 256;
const MAX_TOKEN_LENGTH = 8192;

export interface TokenServiceOptions {
  /** `iss` of every token; what registries are configured to trust. */
  readonly issuer: string;
  /** `aud` of access tokens: the registry's service name. */
  readonly service: string;
  readonly keys: SigningKeys;
  /** Access token lifetime; default 300 s, at least 60 s. */
  readonly expiresInMs?: number;
  /** Refresh token lifetime; default 30 days. */
  readonly refreshExpiresInMs?: number;
  /** Clock skew allowed on `exp`, `nbf` and `iat`; default 30 s. */
  readonly leewayMs?: number;
  /** Clock, for tests. */
  readonly now?: () => number;
}

export interface IssuedToken {
  readonly token: string;
  /** Seconds from `issuedAt`. */
  readonly expiresIn: number;
  readonly issuedAt: Date;
  readonly access: readonly TokenAccess[];
}

export interface AccessTokenClaims {
  readonly iss: string;
  /** '' for an anonymous caller. */
  readonly sub: string;
  readonly aud: string;
  readonly exp: number;
  readonly nbf: number;
  readonly iat: number;
  readonly jti: string;
  readonly access: readonly TokenAccess[];
  readonly groups: readonly string[];
  /** Issued for a federated identity: where it came from and the claims the rules name (federated-claim.ts). */
  readonly federated?: FederatedClaim;
}

export interface RefreshTokenClaims {
  readonly sub: string;
  /** The provider that verified the subject (`htpasswd`, `ldap`, `robot`); absent in tokens from before it was recorded. */
  readonly via?: string;
  /** The account's id where its provider keeps one (a robot's). */
  readonly subjectId?: string;
  /** The stamp of the credential it was issued for (Identity.credentialStamp). */
  readonly credentialStamp?: string;
  /** When it was issued, in ms (`iat` has whole seconds). */
  readonly issuedAtMs: number;
  /** The groups at login; informative only, a refresh reads them afresh. */
  readonly groups: readonly string[];
  readonly exp: number;
  readonly iat: number;
  readonly jti: string;
}

function isStringArray(value: unknown, max: number): value is string[] {
  return Array.isArray(value) && value.length <= max && value.every((item) => typeof item === 'string');
}

function accessClaim(value: unknown): TokenAccess[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.length > MAX_ACCESS_ENTRIES) throw new InvalidTokenError('access claim is not a list');
  return value.map((entry: unknown) => {
    const { type, name, actions } = (entry ?? {}) as Record<string, unknown>;
    if (typeof type !== 'string' || typeof name !== 'string' || !isStringArray(actions, 16))
      throw new InvalidTokenError('malformed access entry');
    return Object.freeze({ type, name, actions: Object.freeze([...actions]) });
  });
}

function optionalStringClaim(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '' || value.length > 256) throw new InvalidTokenError(`malformed ${name} claim`);
  return value;
}

function groupsClaim(value: unknown): string[] {
  if (value === undefined) return [];
  if (!isStringArray(value, 1024)) throw new InvalidTokenError('malformed groups claim');
  return value;
}

export class TokenService {
  readonly issuer: string;
  readonly service: string;
  readonly keys: SigningKeys;
  readonly expiresInMs: number;
  readonly refreshExpiresInMs: number;
  private readonly leewayMs: number;
  private readonly now: () => number;

  constructor(options: TokenServiceOptions) {
    this.issuer = options.issuer;
    this.service = options.service;
    this.keys = options.keys;
    this.expiresInMs = Math.max(MIN_EXPIRES_IN_MS, options.expiresInMs ?? DEFAULT_EXPIRES_IN_MS);
    this.refreshExpiresInMs = Math.max(MIN_EXPIRES_IN_MS, options.refreshExpiresInMs ?? DEFAULT_REFRESH_EXPIRES_IN_MS);
    this.leewayMs = Math.max(0, options.leewayMs ?? DEFAULT_LEEWAY_MS);
    this.now = options.now ?? Date.now;
  }

  /** The audience of this service's refresh tokens. */
  get refreshAudience(): string {
    return REFRESH_AUDIENCE_PREFIX + this.service;
  }

  /**
   * Signs an access token for `identity` carrying exactly `access`. It lives `expiresIn`, and never
   * past the credential the identity was verified with (`validUntil`: a federated token's `exp`) nor
   * longer than its trust policy's `maxTokenLifetime`: then it may live less than the usual minimum.
   */
  async issueAccessToken(identity: Identity, access: readonly TokenAccess[]): Promise<IssuedToken> {
    const issuedAtMs = this.now();
    const iat = Math.floor(issuedAtMs / 1000);
    const expiresIn = this.lifetimeFor(identity, issuedAtMs);
    const claims: JWTPayload = {
      iss: this.issuer,
      sub: identity.user ?? '',
      aud: this.service,
      exp: iat + expiresIn,
      nbf: iat,
      iat,
      jti: randomBytes(16).toString('base64url'),
      access: access.map((entry) => ({ type: entry.type, name: entry.name, actions: [...entry.actions] })),
    };
    if (identity.groups.length > 0) claims.groups = [...identity.groups];
    const federated = federatedClaimOf(identity);
    if (federated) claims.fed = { ...federated, claims: { ...federated.claims } };
    const token = await this.sign(claims, ACCESS_TOKEN_TYPE);
    return { token, expiresIn, issuedAt: new Date(iat * 1000), access };
  }

  /** Seconds an access token for `identity` issued at `issuedAtMs` may live (at least 1). */
  private lifetimeFor(identity: Identity, issuedAtMs: number): number {
    let lifetimeMs = this.expiresInMs;
    if (identity.validUntil !== undefined) lifetimeMs = Math.min(lifetimeMs, identity.validUntil - issuedAtMs);
    if (identity.federation) lifetimeMs = Math.min(lifetimeMs, identity.federation.maxTokenLifetimeMs);
    return Math.max(1, Math.floor(lifetimeMs / 1000));
  }

  /**
   * Signs a refresh token bound to `identity`'s user, the provider that verified it and the
   * account's id if it has one (none for an anonymous caller).
   */
  async issueRefreshToken(identity: Identity): Promise<string> {
    if (identity.user === null) throw new InternalError('RG_ERR_INVALID_ARGUMENT', 'no refresh token for an anonymous caller');
    const issuedAtMs = this.now();
    const iat = Math.floor(issuedAtMs / 1000);
    const claims: JWTPayload = {
      iss: this.issuer,
      sub: identity.user,
      aud: this.refreshAudience,
      exp: iat + Math.floor(this.refreshExpiresInMs / 1000),
      nbf: iat,
      iat,
      jti: randomBytes(16).toString('base64url'),
      via: identity.via,
      issued_at_ms: issuedAtMs,
    };
    if (identity.subjectId !== undefined) claims.subject_id = identity.subjectId;
    if (identity.credentialStamp !== undefined) claims.credential_stamp = identity.credentialStamp;
    if (identity.groups.length > 0) claims.groups = [...identity.groups];
    return this.sign(claims, REFRESH_TOKEN_TYPE);
  }

  /** The claims of a valid access token for this service; throws InvalidTokenError otherwise. */
  async verifyAccessToken(token: string): Promise<AccessTokenClaims> {
    const payload = await this.verify(token, ACCESS_TOKEN_TYPE, this.service, this.expiresInMs);
    return Object.freeze({
      iss: payload.iss as string,
      sub: payload.sub as string,
      aud: this.service,
      exp: payload.exp as number,
      nbf: payload.nbf as number,
      iat: payload.iat as number,
      jti: payload.jti as string,
      access: Object.freeze(accessClaim(payload.access)),
      groups: Object.freeze(groupsClaim(payload.groups)),
      ...(payload.fed !== undefined ? { federated: parseFederatedClaim(payload.fed) } : {}),
    });
  }

  /** The claims of a valid refresh token for this service; throws InvalidTokenError otherwise. */
  async verifyRefreshToken(token: string): Promise<RefreshTokenClaims> {
    const payload = await this.verify(token, REFRESH_TOKEN_TYPE, this.refreshAudience, this.refreshExpiresInMs);
    if (payload.sub === '') throw new InvalidTokenError('refresh token without a subject');
    const via = optionalStringClaim(payload.via, 'via');
    const subjectId = optionalStringClaim(payload.subject_id, 'subject_id');
    const credentialStamp = optionalStringClaim(payload.credential_stamp, 'credential_stamp');
    const iat = payload.iat as number;
    // Within the second `iat` names; a token without it counts from the start of that second.
    const issuedAtMs =
      typeof payload.issued_at_ms === 'number' && Math.floor(payload.issued_at_ms / 1000) === iat ? payload.issued_at_ms : iat * 1000;
    return Object.freeze({
      sub: payload.sub as string,
      ...(via !== undefined ? { via } : {}),
      ...(subjectId !== undefined ? { subjectId } : {}),
      ...(credentialStamp !== undefined ? { credentialStamp } : {}),
      groups: Object.freeze(groupsClaim(payload.groups)),
      exp: payload.exp as number,
      iat,
      issuedAtMs,
      jti: payload.jti as string,
    });
  }

  private async sign(claims: JWTPayload, typ: string): Promise<string> {
    const key = this.keys.current;
    const header: JWTHeaderParameters = { alg: key.algorithm, typ, kid: key.kid, x5c: [key.certificateDer] };
    return new SignJWT(claims).setProtectedHeader(header).sign(key.privateKey);
  }

  private async verify(token: string, typ: string, audience: string, lifetimeMs: number): Promise<JWTPayload> {
    if (token.length > MAX_TOKEN_LENGTH) throw new InvalidTokenError('token too long');
    const nowMs = this.now();
    let used: SigningKey | undefined;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(
        token,
        (header) => {
          const key = this.keys.lookup(header.kid);
          if (!key) throw new InvalidTokenError('unknown kid');
          if (header.alg !== key.algorithm) throw new InvalidTokenError('alg does not match the key');
          used = key;
          return key.publicKey;
        },
        {
          algorithms: this.keys.algorithms,
          issuer: this.issuer,
          audience,
          typ,
          currentDate: new Date(nowMs),
          clockTolerance: Math.floor(this.leewayMs / 1000),
          requiredClaims: ['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti'],
        },
      ));
    } catch (error) {
      if (error instanceof InvalidTokenError) throw error;
      throw new InvalidTokenError(error instanceof joseErrors.JOSEError ? error.code : 'unverifiable');
    }
    if (typeof payload.sub !== 'string' || typeof payload.jti !== 'string' || typeof payload.aud !== 'string') {
      throw new InvalidTokenError('malformed claims');
    }
    const iatMs = (payload.iat as number) * 1000;
    if (iatMs > nowMs + this.leewayMs) throw new InvalidTokenError('issued in the future');
    const retired = used?.retired?.getTime();
    if (retired !== undefined && (iatMs > retired + this.leewayMs || nowMs > retired + lifetimeMs + this.leewayMs)) {
      throw new InvalidTokenError('signed by a retired key');
    }
    return payload;
  }
}
