/**
 * Paging of sorted name lists (tags), with the RFC 8288 `Link` header of the distribution spec.
 * `n` and `last` are read by src/oci/paging.ts, which caps the page size, so no allocation is ever
 * sized by the client.
 */
/** The most entries one page returns, whatever `n` asks for. */
export const MAX_PAGE_SIZE = 1000;

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

/** `</v2/<name>/tags/list?last=X&n=N>; rel="next"` */
export function nextLinkHeader(path: string, page: Page): string | undefined {
  if (page.next === undefined) return undefined;
  const query = new URLSearchParams({ last: page.next, n: String(page.size) });
  return `<${path}?${query.toString()}>; rel="next"`;
}

/** Ascending code-unit order, which for the ASCII names of a registry is the spec's lexical order. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
