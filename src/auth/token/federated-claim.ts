/**
 * The `fed` claim of an access token issued for a federated identity: the trust policy, the
 * issuer and subject of the token it was issued for, and the claims the access rules name, so that
 * the gateway decides a request carrying this token by the same rules (`${claims.NAME}`) as one
 * carrying the federated token itself. Registries behind ignore it (they read `access`). Never the
 * federated token.
 */
import type { FederationFacts, Identity } from '../identity.js';
import { InvalidTokenError } from './types.js';

export interface FederatedClaim {
  readonly policy: string;
  readonly iss: string;
  readonly sub: string;
  readonly claims: Readonly<Record<string, string>>;
}

const MAX_CLAIMS = 32;
const MAX_VALUE_LENGTH = 512;

function shortString(value: unknown): value is string {
  return typeof value === 'string' && value !== '' && value.length <= MAX_VALUE_LENGTH;
}

/** The claim for `identity`, or undefined when it is not federated. */
export function federatedClaimOf(identity: Identity): FederatedClaim | undefined {
  const facts = identity.federation;
  if (!facts) return undefined;
  return { policy: facts.policy, iss: facts.issuer, sub: facts.subject, claims: { ...identity.claims } };
}

/** The claim as a verified token carries it; throws InvalidTokenError when it is malformed. */
export function parseFederatedClaim(value: unknown): FederatedClaim | undefined {
  if (value === undefined) return undefined;
  const { policy, iss, sub, claims } = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  if (
    !shortString(policy) ||
    !shortString(iss) ||
    !shortString(sub) ||
    typeof claims !== 'object' ||
    claims === null ||
    Array.isArray(claims)
  )
    throw new InvalidTokenError('malformed fed claim');
  const entries = Object.entries(claims);
  if (entries.length > MAX_CLAIMS || !entries.every(([, claim]) => shortString(claim))) throw new InvalidTokenError('malformed fed claim');
  return Object.freeze({ policy, iss, sub, claims: Object.freeze(Object.fromEntries(entries) as Record<string, string>) });
}

/** What an identity made from a token with this claim carries of its federated origin; `lifetimeMs` is the token's own. */
export function federationOf(
  claim: FederatedClaim,
  lifetimeMs: number,
): { claims: Readonly<Record<string, string>>; federation: FederationFacts } {
  return {
    claims: claim.claims,
    federation: Object.freeze({ policy: claim.policy, issuer: claim.iss, subject: claim.sub, maxTokenLifetimeMs: lifetimeMs }),
  };
}
