/**
 * What the cached reads share: the store, the repository references, the single fetch per digest,
 * and the registry the content comes from, reached through one narrow seam (`ContentSource`) so
 * that a mirror can fill the same cache from another registry.
 */
import type { Dispatcher } from 'undici';
import type { Logger } from 'pino';
import { RegistryError } from '../../oci/errors.js';
import type { Digest } from '../filesystem/digest.js';
import type { CacheObserver, CachedFile, ContentKind, ContentStore } from './content-store.js';
import type { FillFlights } from './fill-flights.js';
import type { RepositoryReferences } from './repository-references.js';
import type { FillOutcome } from './verified-fill.js';
import { isFailingStatus, isFailure, servedStale } from './stale.js';

/** Requests of the gateway's own to the registry the content comes from (its credentials, never the client's). */
export interface ContentSource {
  fetchContent(repository: string, path: string, method: 'GET' | 'HEAD', accept: string): Promise<Dispatcher.ResponseData>;
}

/** How a fill ended: stored, or present already (another worker), or the source did not answer with the content. */
export type FlightOutcome = FillOutcome | 'present' | 'not-served';

export interface CacheParts {
  readonly source: ContentSource;
  readonly store: ContentStore;
  readonly references: RepositoryReferences;
  readonly flights: FillFlights<FlightOutcome>;
  readonly logger: Logger;
  readonly observer: CacheObserver | undefined;
}

export function contentPath(kind: ContentKind, repository: string, reference: string): string {
  return `/v2/${repository}/${kind}/${reference}`;
}

/**
 * The cached content, held open, if it is cached and the source has it in `repository`: asked once
 * (a HEAD) and remembered. 'elsewhere': cached, but this repository does not have it, so the
 * request goes to the source, which answers for this repository as it would without a cache.
 * While the source is failing, content it said before that the repository has is served stale.
 */
export async function cachedInRepository(
  parts: CacheParts,
  kind: ContentKind,
  repository: string,
  digest: Digest,
  accept: string,
): Promise<CachedFile | 'elsewhere' | undefined> {
  const file = await parts.store.acquire(kind, digest);
  if (!file) return undefined;
  let verdict: 'serve' | 'elsewhere' = 'elsewhere';
  try {
    verdict = await mayServe(parts, kind, repository, digest, accept);
  } finally {
    if (verdict === 'elsewhere') await file.release();
  }
  return verdict === 'serve' ? file : 'elsewhere';
}

/** Whether the source has the digest in `repository`: known, asked now, or (the source failing) said before. */
async function mayServe(
  parts: CacheParts,
  kind: ContentKind,
  repository: string,
  digest: Digest,
  accept: string,
): Promise<'serve' | 'elsewhere'> {
  const state = await parts.references.state(kind, repository, digest);
  if (state === 'fresh') return 'serve';
  const askedAt = Date.now();
  const answer = await headInRepository(parts, kind, repository, digest, accept);
  if (answer === 200) {
    await parts.references.remember(kind, repository, digest, askedAt);
    return 'serve';
  }
  const failing = typeof answer !== 'number' || isFailingStatus(answer);
  if (state === 'stale' && failing) {
    servedStale(parts.logger, parts.observer, { kind, repository, reference: digest.value, cause: answer });
    return 'serve';
  }
  if (typeof answer !== 'number') throw answer;
  return 'elsewhere';
}

/** The source's status for the digest in `repository`, or the failure (a RegistryError) that kept it from answering. */
async function headInRepository(
  parts: CacheParts,
  kind: ContentKind,
  repository: string,
  digest: Digest,
  accept: string,
): Promise<number | RegistryError> {
  try {
    const response = await parts.source.fetchContent(repository, contentPath(kind, repository, digest.value), 'HEAD', accept);
    await response.body.dump();
    return response.statusCode;
  } catch (error) {
    if (isFailure(error)) return error as RegistryError;
    throw error;
  }
}

/** After a fill that failed: the waiting requests get an error, never unverified bytes. */
export function fillFailed(outcome: FlightOutcome): RegistryError {
  return new RegistryError(
    'UPSTREAM_ERROR',
    outcome === 'mismatch' ? 'the upstream sent content that does not match its digest' : 'the upstream content broke off',
  );
}
