/**
 * The `WWW-Authenticate` challenge of a 401: Basic with the realm, or in bearer mode the Docker
 * token flow's `Bearer realm=…,service=…,scope=…` naming the scope the request needs, so clients
 * ask the token endpoint for exactly that.
 */
import type { Action } from '../oci/actions.js';
import { basicChallengeHeader } from '../auth/authorization-header.js';
import { bearerChallenge, scopeForRequest } from '../auth/token/bearer.js';
import { realmFromRequest } from './token-endpoint.js';
import { mountSource } from './mount.js';
import type { Route } from '../oci/route.js';

export interface ChallengeFacts {
  /** How the client reached us ('https' or 'http') and the Host it used: the token realm's default. */
  readonly proto: string;
  readonly host: string | undefined;
  readonly scopes: readonly string[];
  readonly error?: 'invalid_token' | 'insufficient_scope' | undefined;
}

export type Challenge = (facts: ChallengeFacts) => string;

export function basicChallenge(realm: string): Challenge {
  const challenge = basicChallengeHeader(realm);
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

/**
 * The scopes a bearer client is told to ask for to make this request: the request's own and, for a
 * cross-repository mount, pull on the source (as Distribution words it:
 * `scope="repository:team/app:pull,push repository:team/base:pull"`), so that the token it comes
 * back with can mount.
 */
export function challengeScopes(route: Route, action: Action): string[] {
  const scopes = [scopeForRequest(route.repository, action)];
  const source = mountSource(route);
  if (source !== undefined && source !== route.repository) scopes.push(scopeForRequest(source, 'pull'));
  return scopes;
}
