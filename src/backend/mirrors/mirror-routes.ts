/**
 * Which names a mirror serves and what the registry behind it calls them. The patterns are
 * compiled where the import table allows (assembly/, with access/'s matcher) and handed in as
 * predicates.
 *
 *   client's name        hub/library/nginx      (the rules are decided on this name)
 *   stripPrefix          hub/
 *   mirrored registry    library/nginx          (what is sent to the mirror's url)
 *
 * containerd's hosts.toml mirrors send the registry they mean as `?ns=docker.io` and the name
 * without any prefix (`/v2/library/nginx/...?ns=docker.io`): such a request is the mirror's whose
 * `namespace` it names, under the name `stripPrefix` + the path's name, and is decided on that
 * name, so `ns=` reaches no mirror whose rules the caller does not pass.
 */
import { RegistryError } from '../../oci/errors.js';
import { isValidRepositoryName } from '../../oci/names.js';
import type { Route } from '../../oci/route.js';

export interface MirrorRoute {
  /** The mirrored registry's origin (`https://registry-1.docker.io`), as error messages and the UI name it. */
  readonly origin: string;
  /** Distinguishes this mirror's repository references in the cache (the url and the pattern). */
  readonly scope: string;
  readonly stripPrefix: string;
  readonly namespace: string | undefined;
  /** Whether the client's name is this mirror's. */
  readonly matches: (repository: string) => boolean;
}

/** The mirror serving `repository`, if any (the config lets no two match one name). */
export function mirrorFor(mirrors: readonly MirrorRoute[], repository: string): MirrorRoute | undefined {
  return repository === '' ? undefined : mirrors.find((mirror) => mirror.matches(repository));
}

/** The route for another repository name: the same kind, reference and query, the path rebuilt. */
export function routeWithRepository(route: Route, repository: string, rawQuery = route.rawQuery): Route {
  const rest = route.path.slice(`/v2/${route.repository}`.length);
  return { ...route, repository, path: `/v2/${repository}${rest}`, rawQuery };
}

/** Query parameters a mirror's registry is sent (tag list paging); anything else is the gateway's. */
const FORWARDED_QUERY = new Set(['n', 'last']);

/** The route as the mirrored registry is asked: its name for the repository, only the paging query. */
export function upstreamRoute(mirror: MirrorRoute, route: Route): Route {
  const name = route.repository.slice(mirror.stripPrefix.length);
  const query = new URLSearchParams();
  for (const [key, value] of new URLSearchParams(route.rawQuery)) if (FORWARDED_QUERY.has(key)) query.append(key, value);
  return routeWithRepository(route, name, query.toString());
}

/**
 * A containerd request naming a mirror's registry in `ns=`: the route under the name it maps to.
 * Without `ns=`, or with one no mirror serves, the route is unchanged (the registry's own names).
 */
export function routeForNamespace(mirrors: readonly MirrorRoute[], route: Route): Route {
  if (route.repository === '' || !route.rawQuery.includes('ns=')) return route;
  const query = new URLSearchParams(route.rawQuery);
  const named = query.getAll('ns');
  if (named.length !== 1) return route;
  const mirror = mirrors.find((candidate) => candidate.namespace !== undefined && candidate.namespace === named[0]);
  if (!mirror) return route;
  const repository = `${mirror.stripPrefix}${route.repository}`;
  if (!isValidRepositoryName(repository)) throw new RegistryError('NAME_INVALID', 'invalid repository name');
  // The name must be this mirror's: else ns= would reach another mirror, or the registry's own names.
  if (mirrorFor(mirrors, repository) !== mirror)
    throw new RegistryError('NAME_UNKNOWN', `this name is not mirrored from ${mirror.namespace ?? ''}`);
  query.delete('ns');
  return routeWithRepository(route, repository, query.toString());
}
