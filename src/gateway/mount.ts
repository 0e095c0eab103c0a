/**
 * Cross-repository mounts (`POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<source>`) need pull
 * on the source as well as push on the target. When pull on the source is not granted, the mount
 * parameters are removed so that the client gets a normal upload (202) instead of a 403 for a
 * legitimate push, and no blob can leak from a repository the caller may not read.
 *
 * In bearer mode a token limits what the policy grants: when the policy lets the caller pull the
 * source but the token was not given that scope, the client is challenged (as Distribution does)
 * for the target's and the source's scopes together, and comes back with a token that can mount.
 */
import type { Identity } from '../auth/identity.js';
import { decide } from '../access/decide.js';
import type { AccessPolicy } from '../access/policy.js';
import { isValidRepositoryName } from '../oci/names.js';
import type { Route } from '../oci/route.js';

/** The source repository of a well-formed mount request (`mount` and `from` each given once), else undefined. */
export function mountSource(route: Route): string | undefined {
  if (route.kind !== 'upload-start' || !route.rawQuery) return undefined;
  const query = new URLSearchParams(route.rawQuery);
  const from = query.getAll('from');
  if (from.length !== 1 || query.getAll('mount').length !== 1 || !isValidRepositoryName(from[0] as string)) return undefined;
  return from[0];
}

export interface MountDecision {
  /** The route for the backend: unchanged, or without its mount parameters. */
  readonly route: Route;
  /** The policy grants pull on the source but the caller's token (or robot) scopes do not. */
  readonly sourceScopeMissing: boolean;
}

export function authorizeMount(route: Route, identity: Identity, policy: AccessPolicy): MountDecision {
  if (!route.rawQuery) return { route, sourceScopeMissing: false };
  const query = new URLSearchParams(route.rawQuery);
  if (!query.has('mount') && !query.has('from')) return { route, sourceScopeMissing: false };
  const from = mountSource(route);
  const source = from === undefined ? undefined : decide(policy, identity, { kind: 'repository', repository: from, action: 'pull' });
  if (source?.allowed === true) return { route, sourceScopeMissing: false };
  query.delete('mount');
  query.delete('from');
  return { route: { ...route, rawQuery: query.toString() }, sourceScopeMissing: source?.reason === 'scope' };
}
