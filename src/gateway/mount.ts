/**
 * Cross-repository mounts (`POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<source>`) need pull
 * on the source as well as push on the target. When pull on the source is not granted, the mount
 * parameters are removed so that the client gets a normal upload (202) instead of a 403 for a
 * legitimate push, and no blob can leak from a repository the caller may not read.
 */
import type { Identity } from '../auth/identity.js';
import type { AccessPolicy } from '../access/policy.js';
import { scopesAllow } from '../auth/token/access.js';
import { isValidRepositoryName, type Route } from './route.js';

export function withoutUnauthorizedMount(route: Route, identity: Identity, policy: AccessPolicy): Route {
  if (!route.rawQuery) return route;
  const query = new URLSearchParams(route.rawQuery);
  if (!query.has('mount') && !query.has('from')) return route;
  const from = query.get('from') ?? '';
  const fromAllowed =
    query.getAll('from').length === 1 && isValidRepositoryName(from) && policy.decide(identity, from, 'pull').allowed && scopesAllow(identity, from, 'pull');
  if (fromAllowed && query.getAll('mount').length === 1) return route;
  query.delete('mount');
  query.delete('from');
  return { ...route, rawQuery: query.toString() };
}
