/**
 * The decision stage: the one function that says whether a caller may do something, asked by the
 * gateway's pipeline, the mount check, the catalog filter, the token grant and the web UI alike.
 * Everything that limits a decision is here, in this order:
 *
 * 1. the access rules (./policy.ts): some rule for the caller and the repository grants the action;
 *    for a push or delete of content a rule protects, only with `overwrite` (`protected-tag`);
 * 2. the caller's own scopes (./scopes.ts): a bearer token's access claim, a robot's scopes.
 *
 * The rules are asked first, so a request both rules and scopes refuse is refused for the rules'
 * reason. A refusal is a value; the pipeline turns it into 401 or 403 and the audit record.
 */
import type { Identity } from '../auth/identity.js';
import type { TokenAccess } from '../auth/token/types.js';
import type { Action } from '../oci/actions.js';
import type { AccessPolicy, ContentProbe, Decision, ManifestTarget } from './policy.js';
import { accessCovers, accessCoversCatalog, accessMayCoverUnder, accessPullsSomething } from './scopes.js';

/** What is asked: an action on a repository, or the catalog (listing it, one name in it, a token's `registry:catalog:*`). */
export type AccessRequest =
  | { readonly kind: 'repository'; readonly repository: string; readonly action: Action }
  | { readonly kind: 'catalog' }
  | { readonly kind: 'catalog-entry'; readonly repository: string }
  | { readonly kind: 'catalog-scope' };

/** A push or delete of a manifest or blob: rules that protect tags may need to ask the probe. */
export interface ContentRequest {
  readonly kind: 'content';
  readonly repository: string;
  readonly action: Action;
  readonly target: ManifestTarget;
  readonly probe: ContentProbe;
}

/**
 * Why: `policy` (a rule granted, or none did), `protected-tag` (a rule grants the action but not on
 * this content without `overwrite`), `scope` (the rules allow it, the caller's scopes do not).
 */
export type DecisionReason = 'policy' | 'protected-tag' | 'scope';

export interface AccessDecision {
  readonly allowed: boolean;
  /** Index (in config order) of the rule that granted, or -1 (a refusal, or a catalog listing, which no one rule grants). */
  readonly ruleIndex: number;
  readonly reason: DecisionReason;
  /** Granted by a rule that protects the pushed tag: only as long as the tag does not move. */
  readonly tagMustNotMove?: boolean;
}

const SCOPE_REFUSAL: AccessDecision = Object.freeze({ allowed: false, ruleIndex: -1, reason: 'scope' });

function ruled(decision: Decision, scopesAllow: () => boolean): AccessDecision {
  if (!decision.allowed) return { allowed: false, ruleIndex: -1, reason: decision.reason ?? 'policy' };
  if (!scopesAllow()) return SCOPE_REFUSAL;
  return decision.tagMustNotMove === true
    ? { allowed: true, ruleIndex: decision.ruleIndex, reason: 'policy', tagMustNotMove: true }
    : { allowed: true, ruleIndex: decision.ruleIndex, reason: 'policy' };
}

/** Listing the catalog starts with being allowed to pull something at all. */
function catalogDecision(policy: AccessPolicy, identity: Identity, scopesAllow: (own: readonly TokenAccess[]) => boolean): AccessDecision {
  const rules: Decision = policy.mayEver(identity, 'pull') ? { allowed: true, ruleIndex: -1 } : { allowed: false, ruleIndex: -1 };
  return ruled(rules, () => identity.tokenAccess === undefined || scopesAllow(identity.tokenAccess));
}

/**
 * The decision on `request` for `identity`. A content request may need to ask the registry behind
 * (the probe), so its answer is a promise; every other answer is immediate.
 */
export function decide(policy: AccessPolicy, identity: Identity, request: ContentRequest): Promise<AccessDecision>;
export function decide(policy: AccessPolicy, identity: Identity, request: AccessRequest): AccessDecision;
export function decide(
  policy: AccessPolicy,
  identity: Identity,
  request: AccessRequest | ContentRequest,
): AccessDecision | Promise<AccessDecision> {
  const access = identity.tokenAccess;
  switch (request.kind) {
    case 'repository':
      return ruled(
        policy.decide(identity, request.repository, request.action),
        () => access === undefined || accessCovers(access, request.repository, request.action),
      );
    case 'content':
      return policy
        .decideContent(identity, request.repository, request.action, request.target, request.probe)
        .then((decision) => ruled(decision, () => access === undefined || accessCovers(access, request.repository, request.action)));
    case 'catalog':
      // Scopes that name repositories to pull list those (a token for one repository sees it in the catalog).
      return catalogDecision(policy, identity, (own) => accessCoversCatalog(own) || accessPullsSomething(own));
    case 'catalog-scope':
      // A robot gets `registry:catalog:*` into a token only when it was made with that scope.
      return catalogDecision(policy, identity, accessCoversCatalog);
    case 'catalog-entry':
      // `registry:catalog:*` lists whatever the rules let the caller pull, as Distribution lists everything for that scope.
      return ruled(
        policy.decide(identity, request.repository, 'pull'),
        () => access === undefined || accessCoversCatalog(access) || accessCovers(access, request.repository, 'pull'),
      );
  }
}

/**
 * False when no name starting with `prefix` can be a `catalog-entry` the caller is allowed (neither
 * the rules nor the caller's scopes could let it pull one): the catalog walk skips those names
 * without reading them. True may be too generous; each name is still decided on its own.
 */
export function mayListUnder(policy: AccessPolicy, identity: Identity, prefix: string): boolean {
  const access = identity.tokenAccess;
  if (!policy.mayUnder(identity, prefix, 'pull')) return false;
  return access === undefined || accessCoversCatalog(access) || accessMayCoverUnder(access, prefix, 'pull');
}
