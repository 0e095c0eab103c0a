/**
 * The request target (`req.url`, origin-form) split at its first `?` into the path every router
 * matches and the query it may read: one reading for the /v2/ routes, the token endpoint, health,
 * metrics, the web UI and the access log, so none of them sees a path the others would not.
 */

export interface RequestTarget {
  /** Everything before the first `?` (the whole target when there is none). */
  readonly path: string;
  /** Everything after the first `?`, without it; '' when there is none. */
  readonly query: string;
}

export function splitRequestTarget(url: string): RequestTarget {
  const queryAt = url.indexOf('?');
  return queryAt === -1 ? { path: url, query: '' } : { path: url.slice(0, queryAt), query: url.slice(queryAt + 1) };
}
