/**
 * The registry behind, with a content cache in front of it (`upstream.cache: true`): blob and
 * manifest reads are answered from verified bytes on disk when the upstream has the digest in the
 * repository asked for, everything else is forwarded as without the cache, and what a forwarded
 * write changes is forgotten (a blob or manifest delete, a manifest push that may move a tag).
 *
 * Authorization is the pipeline's and comes first: this backend sees only requests the rules let
 * through, for the repository they were decided for.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { SectionLock } from '../../lib/section-lock.js';
import type { Route } from '../../oci/route.js';
import type { Backend, ContentReader, RequestContext } from '../backend.js';
import { tryParseDigest } from '../filesystem/digest.js';
import type { UpstreamBackend } from '../upstream/index.js';
import type { CacheParts, FlightOutcome } from './cache-parts.js';
import { serveCachedBlob } from './cached-blobs.js';
import { serveCachedManifest } from './cached-manifests.js';
import { ContentStore, type CacheObserver } from './content-store.js';
import { FillFlights } from './fill-flights.js';
import { RepositoryReferences } from './repository-references.js';
import { TagResolutions } from './tag-resolutions.js';

export type { CacheObserver } from './content-store.js';

export interface CacheOptions {
  readonly dir: string;
  readonly maxBytes: number;
  readonly tagTtlMs: number;
  /** One fill per digest across workers (the shared section lock). */
  readonly lock: SectionLock;
  readonly logger: Logger;
  readonly observer?: CacheObserver | undefined;
}

export class CachingBackend implements Backend {
  readonly name = 'upstream';
  readonly listTags: ContentReader['listTags'];
  readonly readManifest: ContentReader['readManifest'];
  readonly readBlob: ContentReader['readBlob'];
  readonly listReferrers: ContentReader['listReferrers'];
  readonly deleteManifest: ContentReader['deleteManifest'];
  readonly #upstream: UpstreamBackend;
  readonly #parts: CacheParts;
  readonly #tags: TagResolutions;

  constructor(upstream: UpstreamBackend, parts: CacheParts, tagTtlMs: number) {
    this.#upstream = upstream;
    this.#parts = parts;
    this.#tags = new TagResolutions(parts, tagTtlMs);
    ({ listTags: this.listTags, readManifest: this.readManifest, readBlob: this.readBlob, listReferrers: this.listReferrers } = upstream);
    // The web UI's deletes change what is cached as the registry API's do.
    this.deleteManifest = async (repository, reference) => {
      const route: Route = { kind: 'manifest', repository, reference, path: '', rawQuery: '' };
      await this.#forgetWhatChanges(route, 'DELETE');
      await upstream.deleteManifest(repository, reference);
      await this.#forgetWhatChanges(route, 'DELETE');
    };
  }

  async handle(req: IncomingMessage, res: ServerResponse, context: RequestContext): Promise<void> {
    const method = req.method ?? 'GET';
    const { route } = context;
    const forward = () => this.#upstream.handle(req, res, context);
    if (method === 'GET' || method === 'HEAD') {
      if (route.kind === 'blob') return serveCachedBlob(this.#parts, req, res, context, forward);
      if (route.kind === 'manifest') return serveCachedManifest(this.#parts, this.#tags, req, res, context, forward);
    }
    // Forgotten before (no answer from before the change is kept past it) and after (nor one
    // that a read racing the change remembered in between).
    await this.#forgetWhatChanges(route, method);
    await forward();
    await this.#forgetWhatChanges(route, method);
  }

  async #forgetWhatChanges(route: Route, method: string): Promise<void> {
    const writesManifest = route.kind === 'manifest' && (method === 'PUT' || method === 'DELETE');
    if (writesManifest) this.#tags.forgetRepository(route.repository);
    if (method !== 'DELETE' || (route.kind !== 'blob' && route.kind !== 'manifest')) return;
    const digest = tryParseDigest(route.reference);
    if (!digest) return;
    await this.#parts.references.forget('blobs', route.repository, digest);
    // Distribution serves a manifest at the blobs path too: its delete ends both.
    if (route.kind === 'manifest') await this.#parts.references.forget('manifests', route.repository, digest);
  }

  listRepositories(after: string | undefined, limit: number): Promise<string[]> {
    return this.#upstream.listRepositories(after, limit);
  }

  manifestDigest(repository: string, reference: string): Promise<string | undefined> {
    return this.#upstream.manifestDigest(repository, reference);
  }

  ready(): Promise<boolean> {
    return this.#upstream.ready();
  }

  /** Nothing of its own to close: the upstream's pool is on the generation's close stack, which opened it. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** The folder, its size account and the single fill per digest: one per generation, shared by the upstream's cache and every mirror's. */
export interface SharedCache {
  readonly store: ContentStore;
  readonly flights: FillFlights<FlightOutcome>;
  readonly logger: Logger;
  readonly observer: CacheObserver | undefined;
}

/** Opens the cache folder: scans it and removes abandoned fills. */
export async function openContentCache(options: Omit<CacheOptions, 'tagTtlMs'>): Promise<SharedCache> {
  const store = await ContentStore.open({
    dir: options.dir,
    maxBytes: options.maxBytes,
    logger: options.logger,
    observer: options.observer,
  });
  return {
    store,
    flights: new FillFlights<FlightOutcome>(options.lock),
    logger: options.logger.child({ cache: options.dir }),
    observer: options.observer,
  };
}

/**
 * `upstream` with the shared cache in front. `scope` names where the content comes from in the
 * repository references ('' for the upstream, a mirror's own name for a mirror), so what one
 * registry said a repository has is never believed for a repository of the same name elsewhere.
 */
export function cachingBackend(
  upstream: UpstreamBackend,
  shared: SharedCache,
  options: { scope: string; tagTtlMs: number },
): CachingBackend {
  const parts: CacheParts = {
    source: upstream,
    store: shared.store,
    references: new RepositoryReferences(shared.store.dir, options.scope),
    flights: shared.flights,
    logger: options.scope === '' ? shared.logger : shared.logger.child({ mirror: options.scope }),
    observer: shared.observer,
  };
  return new CachingBackend(upstream, parts, options.tagTtlMs);
}

/** The upstream with the cache of `options` in front; opening it scans the folder and removes abandoned fills. */
export async function openCachingBackend(upstream: UpstreamBackend, options: CacheOptions): Promise<CachingBackend> {
  return cachingBackend(upstream, await openContentCache(options), { scope: '', tagTtlMs: options.tagTtlMs });
}
