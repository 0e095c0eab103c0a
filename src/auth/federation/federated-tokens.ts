/**
 * Verifying a federated token (an OIDC ID token from GitHub Actions or GitLab CI, a Kubernetes
 * service-account token), in this order, the first failure naming its check:
 *
 *   size (MAX_TOKEN_LENGTH, before anything is parsed) → shape (a compact JWS whose payload names
 *   a configured issuer) → algorithm (asymmetric only: never `none`, never HMAC, whose "secret"
 *   could be the issuer's public key) → key (the issuer's JWKS, issuer-keys.ts) → signature →
 *   `iss`, `exp`, `nbf`, `iat` (CLOCK_SKEW_S of skew) → the audience of some policy of that issuer →
 *   that policy's conditions and templates (trust-policy.ts).
 *
 * The first policy of the issuer (in config order) whose audience and conditions hold decides.
 * The token itself goes nowhere: not into a log, an error, an identity or a token issued later.
 */
import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { CredentialRefusal, Identity } from '../identity.js';
import type { IssuerKeys } from './issuer-keys.js';
import type { TrustPolicy } from './trust-policy.js';

/** Longer tokens are refused before any decoding (real ones are 1–2 KB). */
export const MAX_TOKEN_LENGTH = 8192;
export const CLOCK_SKEW_S = 60;
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export type FederatedOutcome = { readonly identity: Identity } | { readonly refused: CredentialRefusal };

/** The issuer a token says it is from, without verifying anything: only to find which keys and policies to ask. */
export function claimedIssuer(token: string): string | undefined {
  if (token.length > MAX_TOKEN_LENGTH || !COMPACT_JWS.test(token)) return undefined;
  try {
    const iss = decodeJwt(token).iss;
    return typeof iss === 'string' ? iss : undefined;
  } catch {
    return undefined;
  }
}

/** A jose failure as the check it stands for. */
function failedCheck(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return 'not-yet-valid';
    if (error.claim === 'iss') return 'issuer';
    return `claim:${error.claim}`;
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature';
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'algorithm';
  return 'malformed';
}

export class FederatedTokens {
  readonly #policies: ReadonlyMap<string, readonly TrustPolicy[]>;
  readonly #keys: ReadonlyMap<string, IssuerKeys>;
  readonly #now: () => number;

  constructor(policies: readonly TrustPolicy[], keys: ReadonlyMap<string, IssuerKeys>, now: () => number = Date.now) {
    const byIssuer = new Map<string, TrustPolicy[]>();
    for (const policy of policies) byIssuer.set(policy.issuer, [...(byIssuer.get(policy.issuer) ?? []), policy]);
    this.#policies = byIssuer;
    this.#keys = keys;
    this.#now = now;
  }

  /** Whether `token` says it comes from one of the configured issuers (then it is this verifier's to decide). */
  isFederated(token: string): boolean {
    const issuer = claimedIssuer(token);
    return issuer !== undefined && this.#policies.has(issuer);
  }

  /** The identity a token stands for, or the check that refused it. Throws RegistryError UNAVAILABLE when the issuer's keys cannot be had. */
  async verify(token: string): Promise<FederatedOutcome> {
    if (token.length > MAX_TOKEN_LENGTH) return { refused: { check: 'too-large' } };
    const issuer = claimedIssuer(token);
    const policies = issuer === undefined ? undefined : this.#policies.get(issuer);
    const keys = issuer === undefined ? undefined : this.#keys.get(issuer);
    if (issuer === undefined || !policies || !keys) return { refused: { check: 'issuer' } };
    const refused = (check: string, policy?: string): FederatedOutcome => ({ refused: { check, issuer, policy } });
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      return refused('malformed');
    }
    if (typeof alg !== 'string' || !ASYMMETRIC_ALGORITHMS.includes(alg)) return refused('algorithm');
    const verified = await this.#verifySignature(token, issuer, keys);
    if ('check' in verified) return refused(verified.check);
    const payload = verified.payload;
    const candidates = policies.filter((policy) => policy.accepts(payload));
    if (candidates.length === 0) return refused('audience');
    let first: { failed: string; policy: string } | undefined;
    for (const policy of candidates) {
      const outcome = policy.apply(payload);
      if ('identity' in outcome) return outcome;
      first ??= { failed: outcome.failed, policy: policy.name };
    }
    return refused(first?.failed ?? 'audience', first?.policy);
  }

  /** Signature, issuer and times; the payload once they hold. */
  async #verifySignature(token: string, issuer: string, keys: IssuerKeys): Promise<{ payload: JWTPayload } | { check: string }> {
    let keyProblem: string | undefined;
    try {
      const { payload } = await jwtVerify(
        token,
        async (header, jws) => {
          const key = await keys.keyFor(header, jws);
          if (typeof key === 'string') {
            keyProblem = key;
            throw new joseErrors.JWKSNoMatchingKey();
          }
          return key;
        },
        {
          algorithms: ASYMMETRIC_ALGORITHMS,
          issuer,
          currentDate: new Date(this.#now()),
          clockTolerance: CLOCK_SKEW_S,
          requiredClaims: ['iss', 'sub', 'aud', 'exp'],
        },
      );
      if (typeof payload.sub !== 'string') return { check: 'claim:sub' };
      if (typeof payload.iat === 'number' && payload.iat * 1000 > this.#now() + CLOCK_SKEW_S * 1000)
        return { check: 'issued-in-the-future' };
      return { payload };
    } catch (error) {
      if (keyProblem !== undefined) return { check: keyProblem };
      if (!(error instanceof joseErrors.JOSEError)) throw error;
      return { check: failedCheck(error) };
    }
  }
}
