/**
 * `GET /v2/_catalog`'s answer: one page of the visible catalog (src/access/catalog.ts walks it),
 * with a `Link` to the next page when there is one.
 */
import type { ServerResponse } from 'node:http';
import type { CatalogPage } from '../access/catalog.js';
import { nextPageLink } from '../oci/paging.js';
import { sendJson } from '../oci/respond.js';

export function sendCatalog(res: ServerResponse, method: string, page: CatalogPage): void {
  const link = page.next === undefined ? undefined : nextPageLink('/v2/_catalog', { last: page.next, n: String(page.n) });
  sendJson(res, method, 200, { repositories: page.repositories }, link ? { Link: link } : {});
}
