/**
 * The OpenID Connect relying party, on openid-client (panva's certified client): discovery and the
 * provider's keys from the issuer, the authorization code flow with PKCE, `state` and `nonce`,
 * the refresh-token grant of the re-check, and RP-initiated logout where the provider offers it.
 *
 * ID tokens are checked by openid-client (issuer, audience and authorized party, expiry and issue
 * time, nonce), then their signature by jose (panva's JOSE library, which openid-client itself
 * builds on) against the provider's JWKS and ALLOWED_ALGORITHMS: asymmetric signatures only, so
 * neither `alg: none` nor an HMAC keyed with something public is ever taken for a signature. The
 * JWKS is cached and fetched again when a token names a key it has not seen, at most once per
 * JWKS_COOLDOWN_MS (how a key rotation arrives, and all that made-up key ids can cost).
 *
 * Failures are sorted for the caller: the provider refused (an OAuth error: a wrong or used code,
 * a refresh token it no longer honours) or sent something that does not verify is an OidcRefusal
 * with a reason code and a detail safe to log (never a token, a code or the secret); a provider
 * that cannot be reached or answers 5xx is RegistryError UNAVAILABLE.
 */
import { readFile } from 'node:fs/promises';
import * as client from 'openid-client';
import { createRemoteJWKSet, customFetch as joseFetch, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { OidcConfig } from '../../config/schema/oidc.js';
import { isRegistryError, RegistryError } from '../../oci/errors.js';
import { userFromClaims } from './claims.js';
import { providerTransport, type ProviderTransport } from './http.js';

export const ALLOWED_ALGORITHMS: ReadonlySet<string> = new Set([
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
]);

/** The provider refused, or answered with something that does not verify. */
export class OidcRefusal extends Error {
  /** `refused` (an OAuth error answer), `id-token-invalid`, `claims-unusable`, `subject-changed`. */
  readonly reason: string;
  /** What happened, safe to log and audit. */
  readonly detail: string;
  /**
   * A refresh token the provider issued with the answer that did not verify: a provider that
   * rotates refresh tokens has already retired the old one, so the caller keeps this one.
   */
  readonly refreshToken?: string | undefined;

  constructor(reason: string, detail: string, refreshToken?: string) {
    super(`OpenID Connect: ${reason}: ${detail}`);
    this.name = 'OidcRefusal';
    this.reason = reason;
    this.detail = detail.slice(0, 300);
    this.refreshToken = refreshToken;
  }
}

/** Who the provider says signed in, or is still signed in. */
export interface OidcSubject {
  readonly issuer: string;
  readonly sub: string;
  readonly user: string;
  readonly groups: readonly string[];
  /** Present when the provider issued one (offline_access). */
  readonly refreshToken?: string | undefined;
}

export interface LoginChecks {
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
  readonly redirectUri: string;
}

const JWKS_COOLDOWN_MS = 1_000;
const JWKS_MAX_AGE_MS = 10 * 60_000;
const CLOCK_TOLERANCE_S = 30;

const UNREACHABLE_CODES = new Set(['OAUTH_TIMEOUT', 'OAUTH_ABORT', 'OAUTH_RESPONSE_IS_NOT_CONFORM', 'OAUTH_RESPONSE_IS_NOT_JSON']);

/** Turns whatever openid-client threw into an OidcRefusal or a RegistryError. */
function sorted(error: unknown, what: string): Error {
  if (error instanceof OidcRefusal || isRegistryError(error)) return error;
  if (error instanceof client.ResponseBodyError) {
    if (error.status >= 500) return new RegistryError('UNAVAILABLE', 'the OpenID provider failed');
    const description = typeof error.error_description === 'string' ? ` (${error.error_description})` : '';
    return new OidcRefusal('refused', `${what}: ${error.error}${description}`);
  }
  if (error instanceof client.WWWAuthenticateChallengeError) {
    if (error.status >= 500) return new RegistryError('UNAVAILABLE', 'the OpenID provider failed');
    const challenge = error.cause[0]?.parameters.error;
    return new OidcRefusal('refused', `${what}: ${typeof challenge === 'string' ? challenge.slice(0, 64) : `status ${error.status}`}`);
  }
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  if (isRegistryError(cause)) return cause;
  if (error instanceof client.ClientError) {
    if (UNREACHABLE_CODES.has(error.code ?? '')) return new RegistryError('UNAVAILABLE', 'the OpenID provider cannot be reached');
    // The library's messages are fixed texts; the cause (claims, the response) is never passed on.
    const inner = cause instanceof Error ? `: ${cause.message}` : '';
    return new OidcRefusal('id-token-invalid', `${what}: ${error.message}${inner}`.replace(/eyJ[\w-]*\.[\w-]*\.?[\w-]*/g, '[token]'));
  }
  return new OidcRefusal('id-token-invalid', `${what}: ${error instanceof TypeError ? 'malformed answer' : 'unverifiable answer'}`);
}

export class OidcClient {
  readonly #config: OidcConfig;
  readonly #transport: ProviderTransport;
  readonly #secret: string | undefined;
  #discovered: Promise<client.Configuration> | undefined;
  #jwks: { uri: string; keys: JWTVerifyGetKey } | undefined;

  private constructor(config: OidcConfig, transport: ProviderTransport, secret: string | undefined) {
    this.#config = config;
    this.#transport = transport;
    this.#secret = secret;
  }

  static async create(config: OidcConfig): Promise<OidcClient> {
    const secret = config.clientSecretFile ? (await readFile(config.clientSecretFile, 'utf8')).trim() : undefined;
    if (secret === '') throw new Error(`${config.clientSecretFile ?? ''}: the client secret file is empty`);
    return new OidcClient(config, await providerTransport({ caFile: config.ca, timeoutMs: config.timeout }), secret);
  }

  /** Discovery, once; asked again after a failure (the provider may come back). */
  #configuration(): Promise<client.Configuration> {
    this.#discovered ??= client
      .discovery(
        new URL(this.#config.issuer),
        this.#config.clientId,
        { client_secret: this.#secret },
        this.#secret === undefined ? client.None() : client.ClientSecretBasic(this.#secret),
        {
          [client.customFetch]: this.#transport.fetch,
          timeout: Math.ceil(this.#config.timeout / 1000),
        },
      )
      .catch((error: unknown) => {
        this.#discovered = undefined;
        const failure = sorted(error, 'discovery');
        throw isRegistryError(failure) ? failure : new RegistryError('UNAVAILABLE', 'the OpenID provider cannot be discovered');
      });
    return this.#discovered;
  }

  /** Where to send the browser: the provider's authorization endpoint with PKCE, state and nonce. */
  async authorizationUrl(checks: LoginChecks): Promise<URL> {
    const configuration = await this.#configuration();
    const scopes = this.#config.scopes;
    return client.buildAuthorizationUrl(configuration, {
      redirect_uri: checks.redirectUri,
      scope: scopes.join(' '),
      state: checks.state,
      nonce: checks.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(checks.codeVerifier),
      code_challenge_method: 'S256',
      // OpenID Connect Core §11: a refresh token for offline use is asked for with prompt=consent.
      ...(scopes.includes('offline_access') ? { prompt: 'consent' } : {}),
    });
  }

  /** The code exchange of the callback (`callbackUrl` is the redirect URI with the callback's query). */
  async signIn(callbackUrl: URL, checks: LoginChecks): Promise<OidcSubject> {
    const configuration = await this.#configuration();
    let tokens;
    try {
      tokens = await client.authorizationCodeGrant(configuration, callbackUrl, {
        pkceCodeVerifier: checks.codeVerifier,
        expectedState: checks.state,
        expectedNonce: checks.nonce,
        idTokenExpected: true,
      });
    } catch (error) {
      throw sorted(error, 'code exchange');
    }
    return this.#subject(configuration, tokens, undefined);
  }

  /** The refresh-token grant: who the provider says the user is now. Throws OidcRefusal when it will not say. */
  async refresh(refreshToken: string, expectedSub: string): Promise<OidcSubject> {
    const configuration = await this.#configuration();
    let tokens;
    try {
      tokens = await client.refreshTokenGrant(configuration, refreshToken);
    } catch (error) {
      throw sorted(error, 'refresh');
    }
    try {
      return await this.#subject(configuration, tokens, expectedSub);
    } catch (error) {
      if (!(error instanceof OidcRefusal) || tokens.refresh_token === undefined) throw error;
      throw new OidcRefusal(error.reason, error.detail, tokens.refresh_token);
    }
  }

  /** The provider's logout URL that returns to `postLogoutRedirectUri`, if it offers RP-initiated logout. */
  async endSessionUrl(postLogoutRedirectUri: string): Promise<string | undefined> {
    const configuration = await this.#configuration().catch(() => undefined);
    if (!configuration?.serverMetadata().end_session_endpoint) return undefined;
    return client.buildEndSessionUrl(configuration, { post_logout_redirect_uri: postLogoutRedirectUri, client_id: this.#config.clientId })
      .href;
  }

  async close(): Promise<void> {
    await this.#transport.close();
  }

  /** The provider's keys, fetched when first needed and again as they rotate. */
  #keys(configuration: client.Configuration): JWTVerifyGetKey {
    const uri = configuration.serverMetadata().jwks_uri;
    if (uri === undefined) throw new OidcRefusal('id-token-invalid', 'the provider publishes no keys (jwks_uri)');
    if (this.#jwks?.uri !== uri) {
      const keys = createRemoteJWKSet(new URL(uri), {
        [joseFetch]: (url, init) => this.#transport.fetch(url, { ...init, headers: Object.fromEntries(init.headers) }),
        cooldownDuration: JWKS_COOLDOWN_MS,
        cacheMaxAge: JWKS_MAX_AGE_MS,
        timeoutDuration: this.#config.timeout,
      });
      this.#jwks = { uri, keys };
    }
    return this.#jwks.keys;
  }

  /** The ID token's signature, by a key the provider publishes, with an allowed algorithm. */
  async #verifySignature(configuration: client.Configuration, idToken: string): Promise<void> {
    try {
      await jwtVerify(idToken, this.#keys(configuration), {
        algorithms: [...ALLOWED_ALGORITHMS],
        issuer: configuration.serverMetadata().issuer,
        audience: this.#config.clientId,
        clockTolerance: CLOCK_TOLERANCE_S,
      });
    } catch (error) {
      if (error instanceof OidcRefusal || isRegistryError(error)) throw error;
      if (isRegistryError((error as { cause?: unknown }).cause)) throw (error as { cause: RegistryError }).cause;
      const code = error instanceof joseErrors.JOSEError ? error.code : 'unverifiable';
      if (code === 'ERR_JWKS_TIMEOUT') throw new RegistryError('UNAVAILABLE', 'the OpenID provider cannot be reached');
      throw new OidcRefusal('signature-invalid', `ID token signature: ${code}`);
    }
  }

  async #subject(
    configuration: client.Configuration,
    tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers,
    expectedSub: string | undefined,
  ): Promise<OidcSubject> {
    const idClaims = tokens.claims();
    if (tokens.id_token !== undefined) await this.#verifySignature(configuration, tokens.id_token);
    const sub = idClaims?.sub ?? expectedSub;
    if (sub === undefined) throw new OidcRefusal('id-token-invalid', 'no ID token');
    if (expectedSub !== undefined && sub !== expectedSub)
      throw new OidcRefusal('subject-changed', 'the provider now names another subject');
    let claims: Record<string, unknown> = { ...(idClaims ?? {}) };
    const { usernameClaim, groupsClaim } = this.#config;
    if ((claims[usernameClaim] === undefined || claims[groupsClaim] === undefined) && configuration.serverMetadata().userinfo_endpoint) {
      try {
        claims = { ...(await client.fetchUserInfo(configuration, tokens.access_token, sub)), ...claims };
      } catch (error) {
        throw sorted(error, 'userinfo');
      }
    }
    const named = userFromClaims(claims, usernameClaim, groupsClaim);
    if (!named.ok) throw new OidcRefusal('claims-unusable', named.reason);
    return {
      issuer: configuration.serverMetadata().issuer,
      sub,
      user: named.user,
      groups: named.groups,
      refreshToken: tokens.refresh_token,
    };
  }
}
