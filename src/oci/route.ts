/**
 * Parses request paths with the distribution grammar, before anything else looks at the request.
 *
 * A path that does not parse is refused outright: percent-encoding (so no encoded `/` or `.`), dot
 * segments, empty segments, upper case and over-long names never reach a decision or a backend.
 * What is authorized is `Route.path`, which is exactly the bytes of the path the client sent and
 * exactly what is forwarded upstream.
 */
import { RegistryError } from './errors.js';
import { digestFault, isDigest, isTag, isUploadId, isValidRepositoryName } from './names.js';
import { splitRequestTarget } from './request-target.js';

export type RouteKind =
  | 'base' // GET /v2/
  | 'catalog' // GET /v2/_catalog
  | 'tags' // GET /v2/<name>/tags/list
  | 'manifest' // /v2/<name>/manifests/<tag|digest>
  | 'blob' // /v2/<name>/blobs/<digest>
  | 'upload-start' // POST /v2/<name>/blobs/uploads/
  | 'upload' // /v2/<name>/blobs/uploads/<id>
  | 'referrers'; // GET /v2/<name>/referrers/<digest>

export interface Route {
  readonly kind: RouteKind;
  /** The repository name; empty for `base` and `catalog`. */
  readonly repository: string;
  /** Tag or digest for manifests, digest for blobs and referrers, upload id for uploads. */
  readonly reference: string;
  /** The path exactly as received (no query). */
  readonly path: string;
  /** The raw query string without `?`, or ''. */
  readonly rawQuery: string;
}

function notFound(): RegistryError {
  return new RegistryError('NOT_FOUND', 'no route for this path');
}

function named(kind: RouteKind, nameSegments: string[], reference: string, path: string, rawQuery: string): Route {
  const repository = nameSegments.join('/');
  if (!isValidRepositoryName(repository)) throw new RegistryError('NAME_INVALID', 'invalid repository name');
  return { kind, repository, reference, path, rawQuery };
}

/**
 * The route, when `digest` can name content; else DIGEST_INVALID (400), answered here for every
 * backend and every repository alike, and nothing is forwarded.
 */
function withDigest(route: Route, digest: string): Route {
  const fault = digestFault(digest);
  if (fault === undefined) return route;
  if (fault === 'unsupported') {
    throw new RegistryError('DIGEST_INVALID', 'unsupported digest algorithm', {
      detail: { digest, supported: ['sha256', 'sha384', 'sha512'] },
    });
  }
  throw new RegistryError('DIGEST_INVALID', 'invalid digest', { detail: { digest } });
}

/**
 * `url` is the request target (`req.url`): origin-form path with an optional query. The method
 * only chooses how a malformed manifest reference is refused (404 to a read, 400 to a write).
 */
export function routeFromUrl(url: string, method = 'GET'): Route {
  const { path, query: rawQuery } = splitRequestTarget(url);
  if (path.length > 2048 || !path.startsWith('/v2/') || path.includes('%')) throw notFound();
  if (path === '/v2/') return { kind: 'base', repository: '', reference: '', path, rawQuery };
  if (path === '/v2/_catalog') return { kind: 'catalog', repository: '', reference: '', path, rawQuery };

  const segments = path.slice('/v2/'.length).split('/');
  // An upload is started at `.../blobs/uploads/` (the trailing slash is the last, empty segment).
  if (segments.at(-1) === '') {
    segments.pop();
    if (segments.length >= 3 && segments.at(-1) === 'uploads' && segments.at(-2) === 'blobs') {
      return named('upload-start', segments.slice(0, -2), '', path, rawQuery);
    }
    throw notFound();
  }
  if (segments.some((segment) => segment === '' || segment === '.' || segment === '..')) throw notFound();
  const n = segments.length;
  const last = segments[n - 1] as string;
  const second = segments[n - 2];
  const third = segments[n - 3];

  if (n >= 3 && second === 'tags' && last === 'list') return named('tags', segments.slice(0, -2), '', path, rawQuery);
  if (n >= 3 && second === 'manifests') {
    const route = named('manifest', segments.slice(0, -2), last, path, rawQuery);
    if (isTag(last)) return route;
    if (isDigest(last)) return withDigest(route, last);
    // No manifest can be found under a reference that is neither a tag nor a digest: reads get the
    // spec's 404 (as from Distribution, whose router matches no such path); writes are malformed.
    // Either way the answer is given here, the same for every repository, and nothing is forwarded.
    if (method === 'GET' || method === 'HEAD')
      throw new RegistryError('MANIFEST_UNKNOWN', 'no manifest has this reference: it is neither a tag nor a digest');
    throw new RegistryError('MANIFEST_INVALID', 'invalid manifest reference: neither a tag nor a digest');
  }
  if (n >= 4 && third === 'blobs' && second === 'uploads') {
    if (!isUploadId(last)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN');
    return named('upload', segments.slice(0, -3), last, path, rawQuery);
  }
  if (n >= 3 && second === 'blobs' && last === 'uploads') return named('upload-start', segments.slice(0, -2), '', path, rawQuery);
  if (n >= 3 && second === 'blobs') {
    return withDigest(named('blob', segments.slice(0, -2), last, path, rawQuery), last);
  }
  if (n >= 3 && second === 'referrers') {
    return withDigest(named('referrers', segments.slice(0, -2), last, path, rawQuery), last);
  }
  throw notFound();
}
