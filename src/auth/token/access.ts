/**
 * What a set of access entries covers, and what a token may grant.
 *
 * Granting follows docs/spec/auth/token.md: the token carries the intersection of the requested
 * actions and the actions the caller has (the access policy, and a robot's own scopes); a partial
 * grant, or none, is not an error. Checking follows the registry side of the spec, with
 * Distribution's rule that `*` stands for every action.
 *
 * Repository names are granted exactly as requested and must be valid repository names (the
 * route grammar): a name with a registry host in front (`localhost:5000/foo`) is parsed, but never
 * granted, because a registry's own challenge never puts its host in the scope.
 */
import type { AccessPolicy } from '../../access/policy.js';
import { compileRepositoryPattern, type RepositoryPattern } from '../../access/pattern.js';
import { ACTIONS, type Action } from '../../config/schema.js';
import { isValidRepositoryName } from '../../oci/names.js';
import type { ResourceScope, ScopedIdentity, TokenAccess } from './types.js';

export const REPOSITORY = 'repository';
export const CATALOG: TokenAccess = Object.freeze({ type: 'registry', name: 'catalog', actions: Object.freeze(['*']) });

/** Patterns of robot scopes, compiled once when the robot is loaded; keyed by the entry object. */
const patterns = new WeakMap<TokenAccess, RepositoryPattern>();

/**
 * An access entry whose name is a repository pattern (`*` within a component, `**` across), for
 * robot scopes. The pattern is compiled here, once.
 */
export function repositoryPatternAccess(pattern: string, actions: readonly string[]): TokenAccess {
  const entry: TokenAccess = Object.freeze({ type: REPOSITORY, name: pattern, actions: Object.freeze([...actions]) });
  patterns.set(entry, compileRepositoryPattern(pattern));
  return entry;
}

function grantsAction(entry: TokenAccess, action: string): boolean {
  return entry.actions.includes(action) || entry.actions.includes('*');
}

function namesRepository(entry: TokenAccess, repository: string): boolean {
  if (entry.type !== REPOSITORY) return false;
  const pattern = patterns.get(entry);
  return pattern ? pattern.matches(repository, null, []) : entry.name === repository;
}

/** True when the entries allow `action` on `repository`. */
export function accessCovers(access: readonly TokenAccess[], repository: string, action: Action | string): boolean {
  return access.some((entry) => namesRepository(entry, repository) && grantsAction(entry, action));
}

/** True when the entries hold `registry:catalog:*`. */
export function accessCoversCatalog(access: readonly TokenAccess[]): boolean {
  return access.some((entry) => entry.type === CATALOG.type && entry.name === CATALOG.name && entry.actions.includes('*'));
}

/**
 * The scope half of a decision: true when the identity carries no scopes, or its scopes (a bearer
 * token's access claim, a robot's scopes) cover `action` on `repository`. The gateway allows a
 * request when the policy allows it AND this holds.
 */
export function scopesAllow(identity: ScopedIdentity, repository: string, action: Action): boolean {
  return identity.tokenAccess === undefined || accessCovers(identity.tokenAccess, repository, action);
}

/** The whole decision for a scoped caller: the policy allows it AND `scopesAllow`. */
export function isAuthorized(policy: AccessPolicy, identity: ScopedIdentity, repository: string, action: Action): boolean {
  return policy.decide(identity, repository, action).allowed && scopesAllow(identity, repository, action);
}

/**
 * Whether the caller may list the catalog at all: it may pull something, and its scopes (if any)
 * hold `registry:catalog:*` or pull on some repository.
 */
export function mayListCatalog(policy: AccessPolicy, identity: ScopedIdentity): boolean {
  if (!policy.mayEver(identity, 'pull')) return false;
  const access = identity.tokenAccess;
  if (access === undefined || accessCoversCatalog(access)) return true;
  return access.some((entry) => entry.type === REPOSITORY && grantsAction(entry, 'pull'));
}

/**
 * Whether one repository shows in the caller's catalog: pull is allowed by the policy and, for a
 * scoped caller, `registry:catalog:*` was granted (the listing is then filtered by policy alone,
 * as Distribution lists everything for that scope) or its scopes cover pull on the repository.
 */
export function showsInCatalog(policy: AccessPolicy, identity: ScopedIdentity, repository: string): boolean {
  if (!policy.decide(identity, repository, 'pull').allowed) return false;
  const access = identity.tokenAccess;
  return access === undefined || accessCoversCatalog(access) || accessCovers(access, repository, 'pull');
}

function requestedActions(requested: readonly string[]): Action[] {
  if (requested.includes('*')) return [...ACTIONS];
  return ACTIONS.filter((action) => requested.includes(action));
}

/**
 * The access to put in a token for `requested`: for each repository, the requested actions
 * (`*` meaning all of them) that `isAuthorized` allows; `registry:catalog:*` when `mayListCatalog`
 * holds and the caller has no scopes of its own or they include it (a robot lists the catalog only
 * when it was made with that scope). Entries for the same
 * resource are merged; resources with nothing granted are left out; other types are ignored.
 */
export function grantAccess(policy: AccessPolicy, identity: ScopedIdentity, requested: readonly ResourceScope[]): TokenAccess[] {
  const granted = new Map<string, Set<string>>();
  const add = (type: string, name: string, actions: readonly string[]) => {
    if (actions.length === 0) return;
    const key = `${type}:${name}`;
    const set = granted.get(key) ?? new Set<string>();
    for (const action of actions) set.add(action);
    granted.set(key, set);
  };
  for (const scope of requested) {
    if (scope.type === REPOSITORY) {
      if (!isValidRepositoryName(scope.name)) continue;
      add(
        REPOSITORY,
        scope.name,
        requestedActions(scope.actions).filter((action) => isAuthorized(policy, identity, scope.name, action)),
      );
    } else if (scope.type === CATALOG.type && scope.name === CATALOG.name && scope.actions.includes('*')) {
      const ownScopesAllow = identity.tokenAccess === undefined || accessCoversCatalog(identity.tokenAccess);
      if (ownScopesAllow && mayListCatalog(policy, identity)) add(CATALOG.type, CATALOG.name, ['*']);
    }
  }
  return [...granted].map(([key, actions]) => {
    const [type, ...rest] = key.split(':');
    const name = rest.join(':');
    const ordered = type === REPOSITORY ? ACTIONS.filter((action) => actions.has(action)) : [...actions];
    return { type: type as string, name, actions: ordered };
  });
}
