/**
 * The read-only pages: the repository list, a repository's tags, a manifest. Each asks the
 * decisions first; a repository the caller may not pull is answered exactly like one that does
 * not exist (404, the same page), so the UI reveals no name the caller could not pull.
 */
import { listVisibleRepositories } from '../gateway/catalog.js';
import { isDigest, isTag } from '../oci/names.js';
import { imageSize, indexSize, manifestView, mapLimited, readConfig, tagRow, descriptor, type DescriptorView } from './content.js';
import type { UiRequest } from './context.js';
import { html } from './html.js';
import { manifestPage } from './pages/manifest.js';
import { messagePage } from './pages/message.js';
import { notice } from './pages/layout.js';
import { repositoriesPage } from './pages/repositories.js';
import { repositoryPage } from './pages/repository.js';

export const REPOSITORIES_PER_PAGE = 50;
export const TAGS_PER_PAGE = 50;

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
    const visible = (name: string) => services.decisions.listsRepository(identity, name) && (needle === '' || name.includes(needle));
    const params = new URLSearchParams({ n: String(REPOSITORIES_PER_PAGE) });
    if (after) params.set('last', after);
    // A next page that starts after a repository the caller may not see comes back sealed.
    page = await listVisibleRepositories(services.options.backend, visible, params, services.options.catalog);
  }
  const next = page.next;
  const cursor = after;
  request.page(200, repositoriesPage(request.frame, { query: search, repositories: page.repositories, next, after: cursor, mayList }));
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
  const rows = await mapLimited(page.tags, (tag) => tagRow(backend, repository, tag));
  const deleted = query.get('deleted');
  const message = deleted && (isTag(deleted) || isDigest(deleted)) ? notice('ok', html`Deleted <code>${deleted}</code>.`) : undefined;
  request.page(
    200,
    repositoryPage(request.frame, {
      repository,
      rows,
      after: cursor,
      next: page.more ? page.tags.at(-1) : undefined,
      mayDelete: services.decisions.mayOfferDelete(identity, repository),
      message,
    }),
  );
}

export async function showManifest(request: UiRequest, repository: string, reference: string): Promise<void> {
  const { identity, services } = request;
  if (!services.decisions.mayPull(identity, repository)) {
    notFound(request);
    return;
  }
  const backend = services.options.backend;
  const content = await backend.readManifest(repository, reference);
  if (!content) {
    notFound(request, 'tag or manifest');
    return;
  }
  const manifest = manifestView(content);
  const config = manifest.kind === 'image' ? await readConfig(backend, repository, manifest).catch(() => undefined) : undefined;
  const platformSizes = new Map<string, number>();
  if (manifest.kind === 'index') {
    await mapLimited(manifest.manifests, async (child) => {
      const childContent = await backend.readManifest(repository, child.digest).catch(() => undefined);
      if (!childContent) return;
      const childView = manifestView(childContent);
      platformSizes.set(child.digest, childView.kind === 'index' ? await indexSize(backend, repository, childView) : imageSize(childView));
    });
  }
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
      mayDelete: services.decisions.mayOfferDelete(identity, repository),
    }),
  );
}
