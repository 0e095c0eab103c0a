/**
 * Tokens offered as passwords. A CI job logs in with its OIDC token as the password
 * (`docker login -u ci -p "$ID_TOKEN"`), and a kubelet's container runtime with the registry token
 * `registry-gate credential-provider` got for a pod's service-account token; either may come as
 * Basic credentials or through the token endpoint's password grant. Which one it is, is told by
 * the password alone (a compact JWT whose `iss` is a configured issuer, or this gateway's token
 * service), never by the user name, which such clients fill with anything.
 *
 * It sits inside the credential cache (a verified token is trusted until its own `exp`, at most
 * `auth.cacheTtl`) and in front of the login throttle, which guards guessable passwords: a
 * signature cannot be guessed, and counting refused tokens against the typed name (`ci`, shared by
 * every job) would let anyone lock every CI job out. Every other password goes on to the
 * throttled provider chain.
 *
 * `FederatedNames` is the chain's member that owns the federated users' names (each policy's
 * literal prefix, in every spelling), placed before htpasswd and LDAP: no directory entry that
 * happens to be named `gh:octo-org/app` is ever that user, and no password logs in as one.
 */
import type { Logger } from 'pino';
import type { AuthOutcome, AuthProvider, CredentialRefusal, Credentials, Identity } from '../identity.js';
import { foldUserName } from '../user-name.js';
import { identityFromToken } from '../token/bearer.js';
import type { TokenService } from '../token/service.js';
import { InvalidTokenError } from '../token/types.js';
import { claimedIssuer, MAX_TOKEN_LENGTH, type FederatedTokens } from './federated-tokens.js';

/** A compact JWS's start: base64url of `{"`. */
const JWT_START = /^eyJ[A-Za-z0-9_-]*\./;

export class TokenPasswords implements AuthProvider {
  readonly name: string;
  readonly #inner: AuthProvider;
  readonly #federated: FederatedTokens;
  readonly #registryTokens: TokenService | undefined;
  readonly #logger: Logger;

  /** `registryTokens`: this gateway's token service, whose federated access tokens are accepted as passwords too. */
  constructor(inner: AuthProvider, federated: FederatedTokens, registryTokens: TokenService | undefined, logger: Logger) {
    this.name = inner.name;
    this.#inner = inner;
    this.#federated = federated;
    this.#registryTokens = registryTokens;
    this.#logger = logger;
  }

  verify(credentials: Credentials): Promise<Identity | null> {
    const { password } = credentials;
    if (password.length > MAX_TOKEN_LENGTH && JWT_START.test(password)) {
      // Real ID tokens are 1–2 KB: a JWT-looking password beyond the cap is refused before anything decodes it.
      this.#refused(credentials, { check: 'too-large' });
      return Promise.resolve(null);
    }
    if (this.#federated.isFederated(password)) return this.#federatedToken(credentials);
    const issuer = claimedIssuer(password);
    if (this.#registryTokens && issuer === this.#registryTokens.issuer) return this.#registryToken(credentials);
    if (issuer !== undefined) {
      // A JWT of an issuer nobody trusts is refused here: never offered to htpasswd or a directory as a password.
      this.#refused(credentials, { check: 'issuer' });
      return Promise.resolve(null);
    }
    return this.#inner.verify(credentials);
  }

  async close(): Promise<void> {
    await this.#inner.close?.();
  }

  async #federatedToken(credentials: Credentials): Promise<Identity | null> {
    const outcome = await this.#federated.verify(credentials.password);
    if ('identity' in outcome) return outcome.identity;
    this.#refused(credentials, outcome.refused);
    return null;
  }

  /** A registry token of this gateway's, issued for a federated identity: that identity, limited to the token's scopes. */
  async #registryToken(credentials: Credentials): Promise<Identity | null> {
    const tokens = this.#registryTokens as TokenService;
    try {
      const claims = await tokens.verifyAccessToken(credentials.password);
      if (claims.federated) return identityFromToken(claims);
      this.#refused(credentials, { check: 'registry-token:not-federated' });
    } catch (error) {
      if (!(error instanceof InvalidTokenError)) throw error;
      this.#refused(credentials, { check: `registry-token:${error.reason}` });
    }
    return null;
  }

  #refused(credentials: Credentials, refusal: CredentialRefusal): void {
    this.#logger.info({ ...refusal, client: credentials.clientIp }, 'token offered as a password refused');
    credentials.onRefused?.(refusal);
  }
}

/** The provider chain's owner of federated user names: it verifies nothing, and refuses them to everyone else. */
export class FederatedNames implements AuthProvider {
  readonly name = 'federation';
  readonly #prefixes: readonly string[];

  /** `prefixes`: each policy's literal user prefix (`gh:`). */
  constructor(prefixes: readonly string[]) {
    this.#prefixes = [...new Set(prefixes.map(foldUserName))];
  }

  owns(user: string): boolean {
    const folded = foldUserName(user);
    return this.#prefixes.some((prefix) => folded.startsWith(prefix));
  }

  verify(): Promise<Identity | null> {
    return Promise.resolve(null);
  }

  authenticate(credentials: Credentials): Promise<AuthOutcome> {
    return Promise.resolve(this.owns(credentials.user) ? { result: 'rejected' } : { result: 'unknown' });
  }

  lookup(user: string): Promise<AuthOutcome> {
    return Promise.resolve(this.owns(user) ? { result: 'rejected' } : { result: 'unknown' });
  }
}
