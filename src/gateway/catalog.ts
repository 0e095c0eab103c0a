/**
 * The filtered catalog: only repositories the caller may pull, paged with `n`/`last` and a `Link`
 * header. Paging walks the backend's own (upstream or on-disk) catalog in lexical order; the cursor
 * is always a backend name, so pages stay consistent however many entries the filter hides. The
 * work per request is bounded: at most MAX_SCANNED names are looked at before the page is returned.
 */
import type { ServerResponse } from 'node:http';
import type { Backend } from '../backend/backend.js';
import { RegistryError } from '../errors.js';

export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1000;
const MAX_SCANNED = 10_000;

export function pageSize(query: URLSearchParams): number {
  const n = query.get('n');
  if (n === null || n === '') return DEFAULT_PAGE;
  if (!/^\d{1,9}$/.test(n)) throw new RegistryError('UNSUPPORTED', 'n must be a non-negative integer', { status: 400 });
  return Math.min(Number(n), MAX_PAGE);
}

/** `visible(name)` says whether the caller may see a repository (pull allowed, and within its token's scopes). */
export async function listVisibleRepositories(
  backend: Backend,
  visible: (repository: string) => boolean,
  query: URLSearchParams,
): Promise<{ repositories: string[]; next: string | undefined; n: number }> {
  const n = pageSize(query);
  const repositories: string[] = [];
  let cursor = query.get('last') || undefined;
  let scanned = 0;
  if (n === 0) return { repositories, next: undefined, n };
  for (;;) {
    const batch = await backend.listRepositories(cursor, MAX_PAGE);
    for (const name of batch) {
      scanned += 1;
      cursor = name;
      if (visible(name)) {
        repositories.push(name);
        if (repositories.length === n) return { repositories, next: name, n };
      }
      if (scanned >= MAX_SCANNED) return { repositories, next: name, n };
    }
    if (batch.length < MAX_PAGE) return { repositories, next: undefined, n };
  }
}

export async function sendCatalog(res: ServerResponse, method: string, page: { repositories: string[]; next: string | undefined; n: number }): Promise<void> {
  const body = JSON.stringify({ repositories: page.repositories });
  res.statusCode = 200;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  if (page.next !== undefined) {
    const query = new URLSearchParams({ last: page.next, n: String(page.n) });
    res.setHeader('Link', `</v2/_catalog?${query}>; rel="next"`);
  }
  res.end(method === 'HEAD' ? undefined : body);
}
