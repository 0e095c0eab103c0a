/**
 * Serving while the registry behind fails. A registry that refuses connections, times out, answers
 * 5xx or rate-limits (429) has not said anything new about a tag or a repository: what it said
 * before still holds as far as the gateway can know, so a tag it named and content it said a
 * repository has are served from the cache ("stale"), with a warning and a count. Content it never
 * said the repository has is never served this way (the cache stays no cross-repository read); a
 * digest never cached is the failure's own error.
 */
import type { Logger } from 'pino';
import { isRegistryError } from '../../oci/errors.js';
import type { CacheObserver, ContentKind } from './content-store.js';

/** Errors the upstream's failures become (backend/upstream/_failures.ts and its token fetches). */
const FAILING_CODES: ReadonlySet<string> = new Set(['UNAVAILABLE', 'UPSTREAM_ERROR', 'UPSTREAM_TIMEOUT']);

/** An answer that says nothing about content: the registry is failing, not saying "no". */
export function isFailingStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/** A request to the registry that got no usable answer (refused, timed out, broken). */
export function isFailure(error: unknown): boolean {
  return isRegistryError(error) && FAILING_CODES.has(error.code);
}

/** What was served stale and why, for the log and the metric; no URL, no credentials. */
export function servedStale(
  logger: Logger,
  observer: CacheObserver | undefined,
  what: { kind: ContentKind | 'tags'; repository: string; reference: string; cause: unknown },
): void {
  observer?.stale(what.kind);
  const cause =
    typeof what.cause === 'number'
      ? { upstreamStatus: what.cause }
      : { upstreamError: isRegistryError(what.cause) ? what.cause.code : 'unknown' };
  logger.warn(
    { kind: what.kind, repository: what.repository, reference: what.reference, ...cause },
    'cache: the registry behind is failing; serving what it said before (stale)',
  );
}
