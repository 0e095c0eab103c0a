/**
 * The RFC 8693 token exchange at `/auth/token`: what the form asks, read and checked before any
 * token is verified. The subject token must be a JWT (a CI job's ID token, a pod's service-account
 * token); an actor token (delegation) is not supported; the issued token is always an access token
 * of this gateway's. Who the subject token stands for is the identity stage's to say
 * (`ExchangeToken`, auth/assemble.ts): federated tokens only, never a password or a token of ours.
 */
import { RegistryError } from '../oci/errors.js';

export type { ExchangeToken } from '../auth/assemble.js';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** What the answer's `issued_token_type` says (RFC 8693 §3). */
export const ISSUED_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const SUBJECT_TOKEN_TYPES = new Set(['urn:ietf:params:oauth:token-type:jwt', 'urn:ietf:params:oauth:token-type:id_token']);
const REQUESTED_TOKEN_TYPES = new Set([ISSUED_TOKEN_TYPE, 'urn:ietf:params:oauth:token-type:jwt']);

function badRequest(message: string): RegistryError {
  return new RegistryError('REQUEST_INVALID', message);
}

function once(params: URLSearchParams, name: string): string | undefined {
  const values = params.getAll(name);
  if (values.length > 1) throw badRequest(`${name} must be given once`);
  return values[0];
}

/** The subject token of a token-exchange form; 400 for anything this endpoint does not do. */
export function readExchangeAsk(params: URLSearchParams): { readonly subjectToken: string } {
  const subjectToken = once(params, 'subject_token');
  const subjectTokenType = once(params, 'subject_token_type');
  if (!subjectToken || subjectTokenType === undefined) throw badRequest('token exchange needs subject_token and subject_token_type');
  if (!SUBJECT_TOKEN_TYPES.has(subjectTokenType))
    throw badRequest('subject_token_type must be urn:ietf:params:oauth:token-type:jwt or id_token');
  if (once(params, 'actor_token') !== undefined) throw badRequest('actor_token (delegation) is not supported');
  const requested = once(params, 'requested_token_type');
  if (requested !== undefined && !REQUESTED_TOKEN_TYPES.has(requested)) throw badRequest('requested_token_type must be an access token');
  return { subjectToken };
}
