/**
 * What a token may grant: for each requested resource, what `decide` allows, following
 * docs/spec/auth/token.md: the token carries the intersection of the requested actions and the
 * actions the caller has (the rules, and its own scopes if it has any); a partial grant, or none, is
 * not an error. auth/token/ signs exactly this.
 *
 * Repository names are granted exactly as requested and must be valid repository names (the route
 * grammar): a name with a registry host in front (`localhost:5000/foo`) is parsed, but never granted,
 * because a registry's own challenge never puts its host in the scope.
 */
import type { Identity } from '../auth/identity.js';
import type { ResourceScope, TokenAccess } from '../auth/token/types.js';
import { ACTIONS, type Action } from '../oci/actions.js';
import { isValidRepositoryName } from '../oci/names.js';
import { decide } from './decide.js';
import type { AccessPolicy } from './policy.js';
import { CATALOG_ENTRY, REPOSITORY_SCOPE } from './scopes.js';

function requestedActions(requested: readonly string[]): Action[] {
  if (requested.includes('*')) return [...ACTIONS];
  return ACTIONS.filter((action) => requested.includes(action));
}

function asksForCatalog(scope: ResourceScope): boolean {
  return scope.type === CATALOG_ENTRY.type && scope.name === CATALOG_ENTRY.name && scope.actions.includes('*');
}

/**
 * The access to put in a token for `requested`: for each repository, the requested actions (`*`
 * meaning all of them) that `decide` allows; `registry:catalog:*` when `decide` allows the catalog
 * scope. Entries for the same resource are merged; resources with nothing granted are left out; other
 * types are ignored.
 */
export function grantAccess(policy: AccessPolicy, identity: Identity, requested: readonly ResourceScope[]): TokenAccess[] {
  const granted = new Map<string, Set<string>>();
  const add = (type: string, name: string, actions: readonly string[]) => {
    if (actions.length === 0) return;
    const key = `${type}:${name}`;
    const set = granted.get(key) ?? new Set<string>();
    for (const action of actions) set.add(action);
    granted.set(key, set);
  };
  for (const scope of requested) {
    if (scope.type === REPOSITORY_SCOPE) {
      if (!isValidRepositoryName(scope.name)) continue;
      const allowed = requestedActions(scope.actions).filter(
        (action) => decide(policy, identity, { kind: 'repository', repository: scope.name, action }).allowed,
      );
      add(REPOSITORY_SCOPE, scope.name, allowed);
    } else if (asksForCatalog(scope) && decide(policy, identity, { kind: 'catalog-scope' }).allowed) {
      add(CATALOG_ENTRY.type, CATALOG_ENTRY.name, ['*']);
    }
  }
  return [...granted].map(([key, actions]) => {
    const [type = '', ...rest] = key.split(':');
    const name = rest.join(':');
    const ordered = type === REPOSITORY_SCOPE ? ACTIONS.filter((action) => actions.has(action)) : [...actions];
    return { type, name, actions: ordered };
  });
}
