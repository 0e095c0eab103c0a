/**
 * The audit records of what the two front ends (the /v2/ pipeline and the web UI) decided: a
 * request allowed or refused, and a refused login. Built field by field from decided values (the
 * route, the identity, the status), never from raw headers, so no password or token can reach the
 * trail; the sink that writes them is ./audit.ts.
 */
import type { CredentialRefusal, Identity } from '../auth/identity.js';
import type { Action } from '../oci/actions.js';
import { isDigest } from '../oci/names.js';
import type { Route } from '../oci/route.js';
import type { AuditRecord } from './audit.js';

export interface AuditFacts {
  readonly identity: Identity;
  readonly client: string;
  readonly method: string;
  readonly route: Route;
  readonly action: Action | 'mount' | 'catalog' | 'login';
  readonly decision: 'allow' | 'deny';
  readonly rule: number;
  readonly status: number;
  readonly responseDigest?: string | undefined;
  readonly reason?: string | undefined;
}

export function auditRecord(facts: AuditFacts): AuditRecord {
  const { route } = facts;
  const query = route.rawQuery ? new URLSearchParams(route.rawQuery) : undefined;
  const reference = route.kind === 'upload' ? undefined : route.reference || undefined;
  const requestDigest = query?.get('digest') ?? query?.get('mount') ?? (reference && isDigest(reference) ? reference : undefined);
  return {
    user: facts.identity.user,
    groups: facts.identity.groups,
    via: facts.identity.via,
    client: facts.client,
    method: facts.method,
    action: facts.action,
    repository: route.repository,
    reference,
    digest: facts.responseDigest ?? requestDigest ?? undefined,
    tag: route.kind === 'manifest' && reference && !isDigest(reference) ? reference : undefined,
    from: facts.action === 'mount' ? (query?.get('from') ?? undefined) : undefined,
    decision: facts.decision,
    rule: facts.rule,
    status: facts.status,
    reason: facts.reason,
    tokenId: facts.identity.personalTokenId,
    federation: federationOf(facts.identity),
  };
}

/** What the trail says of a federated caller: its policy, issuer and subject (never its token). */
function federationOf(identity: Identity): AuditRecord['federation'] {
  const facts = identity.federation;
  return facts && { policy: facts.policy, issuer: facts.issuer, subject: facts.subject };
}

/** Why a login was refused, as its audit record says (never to the client: it gets one generic 401). */
export type LoginRefusalReason =
  /** Unknown user, wrong password, or Basic credentials that do not parse. */
  | 'invalid-credentials'
  /** A bearer token that does not verify (at /v2/). */
  | 'invalid-token'
  /** GET /auth/token with an `account` other than the user of the credentials. */
  | 'account-mismatch'
  /** A refresh token that does not verify (forged, expired, for another service, garbage). */
  | 'invalid-refresh-token'
  /** A valid refresh token whose subject is gone, answered for by another provider, or re-created. */
  | 'refresh-subject-refused'
  /** 429 TOOMANYREQUESTS from the login throttle: nothing was checked. */
  | 'throttled'
  /** A federated token (as a password, at the password grant or in a token exchange) that failed a check (`check` says which). */
  | 'invalid-federated-token';

export interface LoginRefusal {
  /** The name that was tried: from Basic credentials, the password grant or a verified refresh token; null for none. */
  readonly user: string | null;
  readonly client: string;
  readonly method: string;
  readonly status: number;
  readonly reason: LoginRefusalReason;
  /** The /v2/ request the login was refused on; absent at the token endpoint. */
  readonly route?: Route;
  /** Where outside /v2/ the login was refused (`/auth/token`). */
  readonly endpoint?: string;
  /** A refused federated token: the check that failed, and the policy and issuer once known. */
  readonly token?: CredentialRefusal | undefined;
}

/** Names are the client's text: kept short in the trail. */
const MAX_AUDITED_NAME_LENGTH = 256;

/** The audit record of a refused login: action `login`, decision `deny`, no groups, and why. */
export function loginRefusalRecord(facts: LoginRefusal): AuditRecord {
  const user = facts.user === null || facts.user === '' ? null : facts.user.slice(0, MAX_AUDITED_NAME_LENGTH);
  const identity: Identity = { user, groups: [], via: 'anonymous' };
  const common = { client: facts.client, method: facts.method, action: 'login', decision: 'deny', rule: -1, status: facts.status } as const;
  const record: AuditRecord = facts.route
    ? auditRecord({ ...common, identity, route: facts.route })
    : { ...common, user, groups: [], via: identity.via, repository: '', endpoint: facts.endpoint };
  if (!facts.token) return { ...record, reason: facts.reason };
  const { check, policy, issuer } = facts.token;
  return { ...record, reason: 'invalid-federated-token', check, federation: { policy, issuer } };
}

/** A token the token endpoint issued: who got it, by which grant, for what. */
export interface TokenGrant {
  readonly identity: Identity;
  readonly client: string;
  readonly method: string;
  /** `caller` (GET), `password`, `refresh_token`, `token-exchange`. */
  readonly grant: string;
  /** The scopes granted, as the answer's `scope` says them (empty when none was). */
  readonly scope: string;
  readonly endpoint: string;
}

/** The audit record of an issued token (action `token-grant`): never the token itself. */
export function tokenGrantRecord(facts: TokenGrant): AuditRecord {
  const { identity } = facts;
  return {
    user: identity.user,
    groups: identity.groups,
    via: identity.via,
    client: facts.client,
    method: facts.method,
    action: 'token-grant',
    repository: '',
    decision: 'allow',
    rule: -1,
    status: 200,
    endpoint: facts.endpoint,
    grant: facts.grant,
    scope: facts.scope,
    tokenId: identity.personalTokenId,
    federation: federationOf(identity),
  };
}
