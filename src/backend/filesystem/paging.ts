/**
 * Paging of sorted name lists (tags, referrer entries) on disk. `n` and `last` are read by
 * src/oci/paging.ts, which caps the page size (MAX_PAGE_SIZE), so no allocation is ever sized by
 * the client, and builds the `Link` header to the next page.
 */
import { nextPageLink } from '../../oci/paging.js';

export interface Page {
  readonly items: string[];
  /** The `last` to ask for the next page with; undefined when this page ends the list. */
  readonly next: string | undefined;
  /** The page size to repeat in the next page's link. */
  readonly size: number;
}

/** The index of the first entry of `sorted` strictly greater than `last` (0 without `last`). */
export function firstIndexAfter(sorted: readonly string[], last: string | undefined): number {
  if (last === undefined) return 0;
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((sorted[mid] as string) <= last) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** The `Link` to the page after `page` (`</v2/<name>/tags/list?last=X&n=N>; rel="next"`); undefined after the last. */
export function nextLinkHeader(path: string, page: Page): string | undefined {
  return page.next === undefined ? undefined : nextPageLink(path, { last: page.next, n: String(page.size) });
}

/** Ascending code-unit order, which for the ASCII names of a registry is the spec's lexical order. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
