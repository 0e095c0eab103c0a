/**
 * The backend with mirrors: a request for a name a mirror serves goes to that mirror (read-only,
 * always through the content cache, under the mirrored registry's name for it), everything else to
 * the primary backend (the built-in registry or the upstream).
 *
 * The pipeline has decided the request on the client's name before it gets here; a mirror
 * refuses every write (a push, a delete, a mount into it) before reading any body, so the
 * pipeline answers it as an early refusal.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RegistryError } from '../../oci/errors.js';
import type { Backend, ContentReader, RepositoryFilter, RepositoryScan, RequestContext, ScanLimits } from '../backend.js';
import type { CachingBackend } from '../cache/index.js';
import { mirrorFor, upstreamRoute, type MirrorRoute } from './mirror-routes.js';

export { mirrorFor, routeForNamespace, type MirrorRoute } from './mirror-routes.js';

export interface Mirror {
  readonly route: MirrorRoute;
  /** The mirrored registry with the shared cache in front, asked under its own names. */
  readonly cached: CachingBackend;
}

function readOnly(mirror: MirrorRoute, action: string): RegistryError {
  return new RegistryError('DENIED', `this repository is a read-only mirror of ${mirror.origin}`, { detail: { action } });
}

export class MirroringBackend implements Backend {
  readonly name: string;
  readonly listTags: ContentReader['listTags'];
  readonly readManifest: ContentReader['readManifest'];
  readonly readBlob: ContentReader['readBlob'];
  readonly listReferrers: ContentReader['listReferrers'];
  readonly deleteManifest: ContentReader['deleteManifest'];
  readonly scanRepositories?: (after: string | undefined, filter: RepositoryFilter, limits: ScanLimits) => Promise<RepositoryScan>;
  readonly #primary: Backend;
  readonly #mirrors: readonly Mirror[];

  constructor(primary: Backend, mirrors: readonly Mirror[]) {
    this.name = primary.name;
    this.#primary = primary;
    this.#mirrors = mirrors;
    if (primary.scanRepositories) this.scanRepositories = primary.scanRepositories.bind(primary);
    // The web UI's reads, by the same routing; a mirror's names made the mirrored registry's.
    const on = (repository: string) => {
      const mirror = this.#mirrorOf(repository);
      return mirror
        ? { reader: mirror.cached as ContentReader, name: repository.slice(mirror.route.stripPrefix.length), mirror }
        : undefined;
    };
    this.listTags = (repository, after, limit) => {
      const target = on(repository);
      return target ? target.reader.listTags(target.name, after, limit) : primary.listTags(repository, after, limit);
    };
    this.readManifest = (repository, reference) => {
      const target = on(repository);
      return target ? target.reader.readManifest(target.name, reference) : primary.readManifest(repository, reference);
    };
    this.readBlob = (repository, digest, maxBytes) => {
      const target = on(repository);
      return target ? target.reader.readBlob(target.name, digest, maxBytes) : primary.readBlob(repository, digest, maxBytes);
    };
    this.listReferrers = (repository, digest) => {
      const target = on(repository);
      return target ? target.reader.listReferrers(target.name, digest) : primary.listReferrers(repository, digest);
    };
    this.deleteManifest = (repository, reference) => {
      const target = on(repository);
      return target ? Promise.reject(readOnly(target.mirror.route, 'delete')) : primary.deleteManifest(repository, reference);
    };
  }

  #mirrorOf(repository: string): Mirror | undefined {
    const route = mirrorFor(
      this.#mirrors.map((mirror) => mirror.route),
      repository,
    );
    return route && this.#mirrors.find((mirror) => mirror.route === route);
  }

  async handle(req: IncomingMessage, res: ServerResponse, context: RequestContext): Promise<void> {
    const mirror = this.#mirrorOf(context.route.repository);
    if (!mirror) {
      await this.#primary.handle(req, res, context);
      return;
    }
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') throw readOnly(mirror.route, method === 'DELETE' ? 'delete' : 'push');
    await mirror.cached.handle(req, res, { ...context, route: upstreamRoute(mirror.route, context.route) });
  }

  listRepositories(after: string | undefined, limit: number): Promise<string[]> {
    return this.#primary.listRepositories(after, limit);
  }

  manifestDigest(repository: string, reference: string): Promise<string | undefined> {
    const mirror = this.#mirrorOf(repository);
    if (!mirror) return this.#primary.manifestDigest(repository, reference);
    return mirror.cached.manifestDigest(repository.slice(mirror.route.stripPrefix.length), reference);
  }

  /** The primary's readiness: a mirror's registry being down is what its cache serves stale for. */
  ready(): Promise<boolean> {
    return this.#primary.ready();
  }

  /** The mirrors' pools are on the generation's close stack; the primary is its opener's to close. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
