/**
 * The filtered catalog: only repositories the caller may pull, paged with `n`/`last` and a `Link`
 * header. Paging walks the backend's own (upstream or on-disk) catalog in lexical order; the cursor
 * is always a backend name, so pages stay consistent however many entries the filter hides. The
 * work per request is bounded: at most `scanLimit` names are looked at before the page is returned.
 * A Link never names a repository the caller may not see: when the cursor is such a name (the scan
 * limit was reached on it), the Link carries an opaque token for it instead (./catalog-cursor.ts).
 */
import type { ServerResponse } from 'node:http';
import type { Backend } from '../backend/backend.js';
import { parsePageRequest } from '../oci/paging.js';
import { sendJson } from '../oci/respond.js';
import type { CatalogCursors } from './catalog-cursor.js';

export interface CatalogPaging {
  /** Repository names one request looks at, at most. */
  readonly scanLimit: number;
  readonly cursors: CatalogCursors;
}

/** One page; `next` is the `last` of the Link to the next page (a visible name or a token), if any. */
export interface CatalogPage {
  readonly repositories: string[];
  readonly next: string | undefined;
  readonly n: number;
}

export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1000;

/** `visible(name)` says whether the caller may see a repository (pull allowed, and within its token's scopes). */
export async function listVisibleRepositories(
  backend: Backend,
  visible: (repository: string) => boolean,
  query: URLSearchParams,
  paging: CatalogPaging,
): Promise<CatalogPage> {
  const request = parsePageRequest(query, MAX_PAGE);
  const n = request.n ?? DEFAULT_PAGE;
  const repositories: string[] = [];
  const last = request.last;
  let cursor = last ? paging.cursors.open(last) : undefined;
  let scanned = 0;
  if (n === 0) return { repositories, next: undefined, n };
  for (;;) {
    const batch = await backend.listRepositories(cursor, MAX_PAGE);
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
    if (batch.length < MAX_PAGE) return { repositories, next: undefined, n };
  }
}

export function sendCatalog(res: ServerResponse, method: string, page: CatalogPage): void {
  const query = page.next === undefined ? undefined : new URLSearchParams({ last: page.next, n: String(page.n) });
  sendJson(res, method, 200, { repositories: page.repositories }, query ? { Link: `</v2/_catalog?${query.toString()}>; rel="next"` } : {});
}
