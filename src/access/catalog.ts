/**
 * The visible catalog: only repositories the caller may pull, paged with `n`/`last`. Paging walks
 * the backend's own (upstream or on-disk) catalog in lexical order; the cursor is always a backend
 * name, so pages stay consistent however many entries the filter hides. The work per request is
 * bounded: at most `scanLimit` names are looked at before the page is returned. The next page's
 * `last` never names a repository the caller may not see: when the cursor is such a name (the scan
 * limit was reached on it), it is an opaque token for it instead (./catalog-cursor.ts).
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

/** The backend's catalog: repository names in lexical order, strictly after `after` when given, at most `limit`. */
export interface RepositoryLister {
  listRepositories(after: string | undefined, limit: number): Promise<string[]>;
}

/** One page; `next` is the `last` of the Link to the next page (a visible name or a token), if any. */
export interface CatalogPage {
  readonly repositories: string[];
  readonly next: string | undefined;
  readonly n: number;
}

export const DEFAULT_PAGE = 100;

/** `visible(name)` says whether the caller may see a repository (pull allowed, and within its token's scopes). */
export async function listVisibleRepositories(
  backend: RepositoryLister,
  visible: (repository: string) => boolean,
  query: URLSearchParams,
  paging: CatalogPaging,
): Promise<CatalogPage> {
  const request = parsePageRequest(query, MAX_PAGE_SIZE);
  const n = request.n ?? DEFAULT_PAGE;
  const repositories: string[] = [];
  const last = request.last;
  let cursor = last ? paging.cursors.open(last) : undefined;
  let scanned = 0;
  if (n === 0) return { repositories, next: undefined, n };
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
