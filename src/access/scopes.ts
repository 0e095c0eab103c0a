/**
 * The scope half of a decision: what a caller's own scopes cover. A bearer token's `access` claim
 * and a robot's scopes both arrive as `Identity.tokenAccess`; undefined means only the rules decide,
 * an empty list means nothing at all. Checking follows the registry side of docs/spec/auth/token.md,
 * with Distribution's rule that `*` stands for every action.
 *
 * A name is a repository pattern (`*` within a component, `**` across) only in an entry marked
 * `pattern` (a robot's scopes, made in auth/token/robots.ts); a name inside a signed token is always
 * compared literally (the token's claims are parsed without that mark). Patterns are compiled once
 * per entry.
 */
import type { TokenAccess } from '../auth/token/types.js';
import { compileRepositoryPattern, type RepositoryPattern } from './pattern.js';

/** The resource types of docs/spec/auth/scope.md that this registry grants. */
export const REPOSITORY_SCOPE = 'repository';
export const CATALOG_ENTRY: TokenAccess = Object.freeze({ type: 'registry', name: 'catalog', actions: Object.freeze(['*']) });

const compiled = new WeakMap<TokenAccess, RepositoryPattern>();

function patternOf(entry: TokenAccess): RepositoryPattern {
  let pattern = compiled.get(entry);
  if (!pattern) {
    pattern = compileRepositoryPattern(entry.name);
    compiled.set(entry, pattern);
  }
  return pattern;
}

export function grantsAction(entry: TokenAccess, action: string): boolean {
  return entry.actions.includes(action) || entry.actions.includes('*');
}

function namesRepository(entry: TokenAccess, repository: string): boolean {
  if (entry.type !== REPOSITORY_SCOPE) return false;
  return entry.pattern === true ? patternOf(entry).matches(repository, null, []) : entry.name === repository;
}

/** True when the entries allow `action` on `repository`. */
export function accessCovers(access: readonly TokenAccess[], repository: string, action: string): boolean {
  return access.some((entry) => namesRepository(entry, repository) && grantsAction(entry, action));
}

/** False when the entries allow `action` on no repository whose name starts with `prefix`. */
export function accessMayCoverUnder(access: readonly TokenAccess[], prefix: string, action: string): boolean {
  return access.some(
    (entry) =>
      entry.type === REPOSITORY_SCOPE &&
      grantsAction(entry, action) &&
      (entry.pattern === true ? patternOf(entry).mayMatchUnder(prefix, null, []) : entry.name.startsWith(prefix)),
  );
}

/** True when the entries hold `registry:catalog:*`. */
export function accessCoversCatalog(access: readonly TokenAccess[]): boolean {
  return access.some((entry) => entry.type === CATALOG_ENTRY.type && entry.name === CATALOG_ENTRY.name && entry.actions.includes('*'));
}

/** True when the entries allow pull on some repository (a catalog then lists what they name). */
export function accessPullsSomething(access: readonly TokenAccess[]): boolean {
  return access.some((entry) => entry.type === REPOSITORY_SCOPE && grantsAction(entry, 'pull'));
}
