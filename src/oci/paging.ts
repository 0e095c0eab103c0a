/**
 * The one reader of `n` and `last`, the paging parameters of a tags list and the catalog, the most
 * entries one page of any list holds, and the `Link` header (RFC 8288) that names the next page.
 *
 * An `n` that is not a non-negative decimal integer of at most 9 digits is refused with
 * PAGINATION_NUMBER_INVALID (400), as Distribution 3 refuses a bad `n` of both lists (2.8 ignored
 * it; the code clients read is in the catalogue, src/oci/errors.ts). An `n` above the list's
 * maximum is lowered to it, which the distribution spec allows (a page may be shorter than `n`;
 * its Link says where to go on), so no allocation is ever sized by the client.
 */
import { RegistryError } from './errors.js';

export interface PageRequest {
  /** undefined: the client did not ask for a page size. */
  readonly n: number | undefined;
  /** undefined: from the start. */
  readonly last: string | undefined;
}

const PAGE_NUMBER = /^\d{1,9}$/;

export function parsePageRequest(query: URLSearchParams, maxPageSize: number): PageRequest {
  const rawN = query.get('n');
  let n: number | undefined;
  if (rawN !== null && rawN !== '') {
    if (!PAGE_NUMBER.test(rawN)) throw new RegistryError('PAGINATION_NUMBER_INVALID', 'n must be a non-negative integer');
    n = Math.min(Number(rawN), maxPageSize);
  }
  const last = query.get('last');
  return { n, last: last === null || last === '' ? undefined : last };
}

/** The most entries one page of a list (tags, catalog) returns, whatever `n` asks for. */
export const MAX_PAGE_SIZE = 1000;

/**
 * The `Link` header of a page that is not the last, as the distribution spec words it:
 * `</v2/<name>/tags/list?last=X&n=N>; rel="next"`. `query`: the parameters that ask for the next page.
 */
export function nextPageLink(path: string, query: Record<string, string>): string {
  return `<${path}?${new URLSearchParams(query).toString()}>; rel="next"`;
}
