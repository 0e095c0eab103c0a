/**
 * The `WWW-Authenticate` challenge of a 401: Basic with the realm, or in bearer mode the Docker
 * token flow's `Bearer realm=…,service=…,scope=…` naming the scope the request needs, so clients
 * ask the token endpoint for exactly that.
 */
import { bearerChallenge } from '../auth/token/bearer.js';
import { realmFromRequest } from './token-endpoint.js';

export interface ChallengeFacts {
  /** How the client reached us ('https' or 'http') and the Host it used: the token realm's default. */
  readonly proto: string;
  readonly host: string | undefined;
  readonly scopes: readonly string[];
  readonly error?: 'invalid_token' | 'insufficient_scope' | undefined;
}

export type Challenge = (facts: ChallengeFacts) => string;

export function basicChallenge(realm: string): Challenge {
  const challenge = `Basic realm="${realm}"`;
  return () => challenge;
}

export function tokenChallenge(options: { realm: string | undefined; service: string }): Challenge {
  return (facts) =>
    bearerChallenge({
      realm: options.realm ?? realmFromRequest(facts.proto, facts.host) ?? '/auth/token',
      service: options.service,
      scope: facts.scopes,
      error: facts.error,
    });
}
