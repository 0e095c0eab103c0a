/**
 * How the pipeline refuses: the 401 that sends a client for credentials (or, in bearer mode, for a
 * token with the scopes it needs), the 403 DENIED with its detail, and the audit record of each.
 */
import type { DecisionReason } from '../access/decide.js';
import type { Action } from '../oci/actions.js';
import { RegistryError } from '../oci/errors.js';
import { CATALOG_SCOPE } from '../auth/token/bearer.js';
import { challengeScopes } from './challenge.js';
import { auditRecord, type AuditFacts } from '../access/audit-records.js';
import type { Exchange, Identified, Routed } from './exchange.js';

/**
 * The detail of a policy refusal: the action refused. Not decoration: the docker CLI reads an error
 * that has neither a detail nor a message of its own as a bare code, which its upload loop does not
 * take as final, so a refused `docker push` was retried for 50 seconds. The repository is not named,
 * so an answer about a repository that exists and one about a repository that does not stay the same.
 */
function refusalDetail(action: string): { action: string } {
  return { action };
}

type AuditedFacts = Omit<AuditFacts, 'identity' | 'client' | 'method' | 'route'>;

/** The 401 that sends the client for credentials (or, in bearer mode, a token with `scopes`). */
export function unauthorized(exchange: Exchange, scopes: readonly string[], error?: 'invalid_token' | 'insufficient_scope'): RegistryError {
  const challenge = exchange.options.challenge({ proto: exchange.proto, host: exchange.req.headers.host, scopes, error });
  return new RegistryError('UNAUTHORIZED', undefined, { headers: { 'WWW-Authenticate': challenge } });
}

/** The scope a bearer client must ask for; built only when a challenge is sent. */
export function challengedScopes({ route, needed }: Routed): string[] {
  if (needed.kind === 'catalog') return [CATALOG_SCOPE];
  return needed.kind === 'action' ? challengeScopes(route, needed.action) : [];
}

export function isBearerToken(exchange: Identified): boolean {
  return exchange.options.scheme === 'bearer' && exchange.identity.via === 'token';
}

export function audited(exchange: Identified, facts: AuditedFacts): void {
  const { identity, state, method, route } = exchange;
  exchange.options.audit.record(auditRecord({ identity, client: state.client, method, route, ...facts }));
}

/**
 * A refusal, audited: an anonymous caller is challenged (it may have credentials to send); anyone
 * else gets DENIED. A refusal by scope alone sends a bearer client back for a token with that scope.
 */
export function refusal(exchange: Identified, action: Action | 'catalog', reason: DecisionReason, message?: string): RegistryError {
  if (reason === 'scope' && action !== 'catalog') {
    const asksAgain = isBearerToken(exchange);
    audited(exchange, { action, decision: 'deny', rule: -1, status: asksAgain ? 401 : 403, reason });
    return asksAgain
      ? unauthorized(exchange, challengedScopes(exchange), 'insufficient_scope')
      : new RegistryError('DENIED', undefined, { detail: refusalDetail(action) });
  }
  const error =
    exchange.identity.user === null
      ? unauthorized(exchange, challengedScopes(exchange))
      : new RegistryError('DENIED', message, { detail: refusalDetail(action) });
  audited(exchange, { action, decision: 'deny', rule: -1, status: error.status, reason });
  return error;
}
