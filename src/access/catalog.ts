/**
 * The visible catalog: only repositories the caller may pull, paged with `n`/`last`. Paging walks
 * the backend's own (upstream or on-disk) catalog in lexical order; the cursor is always a backend
 * name, so pages stay consistent however many entries the filter hides. The work per request is
 * bounded: at most `scanLimit` names are looked at before the page is returned (on the built-in
 * registry, up to as many again to end the page on a name the caller sees). The next page's
 * `last` never names a repository the caller may not see: when the cursor is such a name (the scan
 * limit was reached on it), it is an opaque token for it instead (./catalog-cursor.ts).
 *
 * A backend that can walk its catalog with the caller's filter (the built-in registry) is handed it:
 * it then asks whether a name is visible before it spends a read on it, and skips subtrees of names
 * no rule or scope lets the caller see, so a page costs about what it shows plus the bounded scan.
 *
 * Both front ends walk it: /v2/_catalog (src/gateway/catalog.ts answers with the page and its
 * `Link`) and the web UI's repository list. The backend is taken as the one read the walk needs.
 */
import { MAX_PAGE_SIZE, parsePageRequest } from '../oci/paging.js';
import type { CatalogCursors } from './catalog-cursor.js';

export interface CatalogPaging {
  /** Repository names one request looks at, at most. */
  readonly scanLimit: number;
  readonly cursors: CatalogCursors;
}

/** Which names the caller sees: `shows(name)`, and `mayShowUnder(prefix)` false when no name under the prefix can be. */
export interface CatalogFilter {
  shows(repository: string): boolean;
  mayShowUnder(prefix: string): boolean;
}

/** The backend's catalog: repository names in lexical order, strictly after `after` when given, at most `limit`. */
export interface RepositoryLister {
  listRepositories(after: string | undefined, limit: number): Promise<string[]>;
  /** The shown names strictly after `after` (at most `names`, looking at `budget` entries); `stoppedAt`: where the budget ran out. */
  scanRepositories?(
    after: string | undefined,
    filter: CatalogFilter,
    limits: { readonly names: number; readonly budget: number },
  ): Promise<{ readonly names: string[]; readonly stoppedAt: string | undefined }>;
}

/** One page; `next` is the `last` of the Link to the next page (a visible name or a token), if any. */
export interface CatalogPage {
  readonly repositories: string[];
  readonly next: string | undefined;
  readonly n: number;
}

export const DEFAULT_PAGE = 100;

/** `filter.shows(name)` says whether the caller may see a repository (pull allowed, and within its token's scopes). */
export async function listVisibleRepositories(
  backend: RepositoryLister,
  filter: CatalogFilter,
  query: URLSearchParams,
  paging: CatalogPaging,
): Promise<CatalogPage> {
  const request = parsePageRequest(query, MAX_PAGE_SIZE);
  const n = request.n ?? DEFAULT_PAGE;
  const last = request.last;
  const cursor = last ? paging.cursors.open(last) : undefined;
  if (n === 0) return { repositories: [], next: undefined, n };
  if (backend.scanRepositories) {
    const scan = await backend.scanRepositories(cursor, filter, { names: n, budget: paging.scanLimit });
    const lastShown = scan.names.at(-1);
    if (scan.stoppedAt !== undefined) {
      return { repositories: scan.names, next: scan.stoppedAt === lastShown ? lastShown : paging.cursors.seal(scan.stoppedAt), n };
    }
    return { repositories: scan.names, next: scan.names.length === n ? lastShown : undefined, n };
  }
  return filterPages(backend, (name) => filter.shows(name), cursor, n, paging);
}

/** The backend's catalog page by page, each name asked of `visible`: at most `scanLimit` names looked at. */
async function filterPages(
  backend: RepositoryLister,
  visible: (repository: string) => boolean,
  start: string | undefined,
  n: number,
  paging: CatalogPaging,
): Promise<CatalogPage> {
  const repositories: string[] = [];
  let cursor = start;
  let scanned = 0;
  for (;;) {
    const batch = await backend.listRepositories(cursor, MAX_PAGE_SIZE);
    for (const name of batch) {
      scanned += 1;
      cursor = name;
      const shown = visible(name);
      if (shown) {
        repositories.push(name);
        if (repositories.length === n) return { repositories, next: name, n };
      }
      if (scanned >= paging.scanLimit) return { repositories, next: shown ? name : paging.cursors.seal(name), n };
    }
    if (batch.length < MAX_PAGE_SIZE) return { repositories, next: undefined, n };
  }
}
