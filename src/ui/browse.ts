/**
 * The read-only pages: the repository list, a repository's tags, a manifest. Each asks the
 * decisions first; a repository the caller may not pull is answered exactly like one that does
 * not exist (404, the same page), so the UI reveals no name the caller could not pull.
 */
import { listVisibleRepositories } from '../access/catalog.js';
import { DISPLAY_LIMITS } from '../lib/work-budget.js';
import { isDigest, isTag, isValidRepositoryName } from '../oci/names.js';
import { mapLimited, descriptor, type DescriptorView } from './content.js';
import type { UiRequest } from './context.js';
import { html } from './html.js';
import { manifestPage } from './pages/manifest.js';
import { messagePage } from './pages/message.js';
import { notice } from './pages/layout.js';
import { NOT_READ, PageReads } from './page-reads.js';
import { repositoriesPage } from './pages/repositories.js';
import { repositoryPage } from './pages/repository.js';

export const REPOSITORIES_PER_PAGE = 50;
/** Rows of a repository page; each reads its tag's manifest (and sizes) within the page's DISPLAY_LIMITS. */
export const TAGS_PER_PAGE = DISPLAY_LIMITS.tags;

export function notFound(request: UiRequest, what = 'repository'): void {
  request.page(404, messagePage(request.frame, 'Not found', `No such ${what}, or you may not see it.`));
}

export async function showRepositories(request: UiRequest): Promise<void> {
  const { identity, query, services } = request;
  const search = (query.get('q') ?? '').trim().slice(0, 255);
  const needle = search.toLowerCase();
  const after = query.get('after') ?? undefined;
  const mayList = services.decisions.mayListRepositories(identity);
  let page: { repositories: string[]; next: string | undefined } = { repositories: [], next: undefined };
  if (mayList) {
    const filter = {
      shows: (name: string) => services.decisions.listsRepository(identity, name) && (needle === '' || name.includes(needle)),
      mayShowUnder: (prefix: string) => services.decisions.mayListUnder(identity, prefix),
    };
    const params = new URLSearchParams({ n: String(REPOSITORIES_PER_PAGE) });
    if (after) params.set('last', after);
    // A next page that starts after a repository the caller may not see comes back sealed.
    page = await listVisibleRepositories(services.options.backend, filter, params, services.options.catalog);
  }
  const next = page.next;
  const cursor = after;
  // A mirror's names are not listed (the mirrored registry's catalog is not ours to walk): a search
  // for one exactly, which the caller may pull, shows it, marked.
  const mirrorOf = services.options.mirrorOf;
  const origin = mirrorOf && isValidRepositoryName(needle) ? mirrorOf(needle) : undefined;
  const mirrored = origin && !after && services.decisions.mayPull(identity, needle) ? [{ name: needle, origin }] : [];
  request.page(
    200,
    repositoriesPage(request.frame, { query: search, repositories: page.repositories, mirrored, next, after: cursor, mayList }),
  );
}

export async function showRepository(request: UiRequest, repository: string): Promise<void> {
  const { identity, query, services } = request;
  if (!services.decisions.mayPull(identity, repository)) {
    notFound(request);
    return;
  }
  const after = query.get('after') ?? undefined;
  const cursor = after !== undefined && isTag(after) ? after : undefined;
  const backend = services.options.backend;
  const page = await backend.listTags(repository, cursor, TAGS_PER_PAGE);
  if (!page) {
    notFound(request);
    return;
  }
  const reads = new PageReads(backend, repository);
  const rows = await mapLimited(page.tags, (tag) => reads.tagRow(tag));
  const deleted = query.get('deleted');
  const message = deleted && (isTag(deleted) || isDigest(deleted)) ? notice('ok', html`Deleted <code>${deleted}</code>.`) : undefined;
  request.page(
    200,
    repositoryPage(request.frame, {
      repository,
      rows,
      after: cursor,
      next: page.more ? page.tags.at(-1) : undefined,
      mirrorOf: services.options.mirrorOf?.(repository),
      mayDelete: services.options.mirrorOf?.(repository) === undefined && services.decisions.mayOfferDelete(identity, repository),
      message,
      cutShort: reads.cutShort,
    }),
  );
}

/** The sizes of an index's entries (by digest) that the page's limits let it read. */
async function entrySizes(reads: PageReads, entries: readonly DescriptorView[]): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  const distinct = [...new Map(entries.map((entry) => [entry.digest, entry])).values()];
  const read = distinct.slice(0, DISPLAY_LIMITS.children);
  if (read.length < distinct.length) reads.leftOut();
  await mapLimited(read, async (entry) => {
    const child = await reads.manifest(entry.digest).catch(() => undefined);
    const size = child === undefined || child === NOT_READ ? undefined : await reads.size(child, 1);
    if (size !== undefined) sizes.set(entry.digest, size);
  });
  return sizes;
}

export async function showManifest(request: UiRequest, repository: string, reference: string): Promise<void> {
  const { identity, services } = request;
  if (!services.decisions.mayPull(identity, repository)) {
    notFound(request);
    return;
  }
  const backend = services.options.backend;
  const reads = new PageReads(backend, repository);
  const manifest = await reads.manifest(reference);
  // The page's first read always fits its limits (a manifest is at most MAX_MANIFEST_BYTES).
  if (manifest === undefined || manifest === NOT_READ) {
    notFound(request, 'tag or manifest');
    return;
  }
  const config = manifest.kind === 'image' ? await reads.config(manifest) : undefined;
  const platformSizes = await entrySizes(reads, manifest.manifests);
  let referrers: DescriptorView[] = [];
  let referrersFailed = false;
  try {
    referrers = (await backend.listReferrers(repository, manifest.digest))
      .map(descriptor)
      .filter((entry): entry is DescriptorView => entry !== undefined);
  } catch (error) {
    services.options.logger.warn(
      { repository, err: error instanceof Error ? error.message : String(error) },
      'UI: referrers could not be read',
    );
    referrersFailed = true;
  }
  request.page(
    200,
    manifestPage(request.frame, {
      repository,
      reference,
      manifest,
      config,
      platformSizes,
      referrers,
      referrersFailed,
      mirrorOf: services.options.mirrorOf?.(repository),
      mayDelete: services.options.mirrorOf?.(repository) === undefined && services.decisions.mayOfferDelete(identity, repository),
      cutShort: reads.cutShort,
    }),
  );
}
