/**
 * One catalogue of registry errors. Every failure that reaches a client is a RegistryError naming
 * one entry; the entry alone decides the HTTP status and the `code` of the OCI error JSON body
 * `{"errors":[{"code","message","detail"}]}` (src/oci/respond.ts writes it). No call site chooses a
 * status: a case that needs another status is another entry.
 *
 * An entry's name is Distribution's where Distribution has one. Some entries answer with the code
 * of another (`wire`): clients have always seen that code for the case, and clients match codes,
 * so the code on the wire stays while the catalogue names the case.
 */

interface CatalogueEntry {
  readonly status: number;
  readonly message: string;
  /** The `code` clients see, when it is not the entry's name. */
  readonly wire?: string;
}

export const ERROR_CATALOGUE = {
  BLOB_UNKNOWN: { status: 404, message: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { status: 400, message: 'blob upload invalid' },
  /** A chunk that does not start where the upload ends (the spec's 416 for PATCH). */
  BLOB_UPLOAD_RANGE_INVALID: { status: 416, message: 'chunk does not start where the upload ends', wire: 'BLOB_UPLOAD_INVALID' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, message: 'blob upload unknown to registry' },
  /** A blob over the cap of a capped read (the web UI's). */
  BLOB_TOO_LARGE: { status: 413, message: 'the blob is too large', wire: 'SIZE_INVALID' },
  DIGEST_INVALID: { status: 400, message: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: { status: 404, message: 'manifest references a manifest or blob unknown to registry' },
  MANIFEST_INVALID: { status: 400, message: 'manifest invalid' },
  /** A manifest body (or a manifest read) over the cap. */
  MANIFEST_TOO_LARGE: { status: 413, message: 'the manifest is too large', wire: 'MANIFEST_INVALID' },
  MANIFEST_UNKNOWN: { status: 404, message: 'manifest unknown to registry' },
  NAME_INVALID: { status: 400, message: 'invalid repository name' },
  NAME_UNKNOWN: { status: 404, message: 'repository name not known to registry' },
  /**
   * A malformed `n` of a tags list or catalog. Distribution 3 answers PAGINATION_NUMBER_INVALID;
   * this gateway has always answered UNSUPPORTED, and tests pin it, so the wire code stays.
   */
  PAGINATION_NUMBER_INVALID: { status: 400, message: 'invalid number of results requested', wire: 'UNSUPPORTED' },
  /** A catalog `last` that is a cursor this registry did not give out. */
  PAGINATION_CURSOR_INVALID: { status: 400, message: 'last is not a cursor this registry gave out', wire: 'UNSUPPORTED' },
  SIZE_INVALID: { status: 400, message: 'provided length did not match content length' },
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
  DENIED: { status: 403, message: 'requested access to the resource is denied' },
  UNSUPPORTED: { status: 405, message: 'the operation is unsupported' },
  /** A request this registry cannot read: a malformed token request, or HTTP Node could not parse. */
  REQUEST_INVALID: { status: 400, message: 'malformed request', wire: 'UNSUPPORTED' },
  /** A request body (a form) of a media type the endpoint does not take. */
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'unsupported media type', wire: 'UNSUPPORTED' },
  /** A request body (a form, a token request) over its cap. */
  TOO_LARGE: { status: 413, message: 'the request body is too large', wire: 'UNSUPPORTED' },
  TOOMANYREQUESTS: { status: 429, message: 'too many requests' },
  /** A connection over the per-client cap (`server.maxConnectionsPerClient`): 503, so clients retry, with the code that names why. */
  TOO_MANY_CONNECTIONS: { status: 503, message: 'too many connections from this client', wire: 'TOOMANYREQUESTS' },
  /** A body that did not arrive within its deadline (`server.bodyTimeout`). */
  REQUEST_TIMEOUT: { status: 408, message: 'the request did not arrive in time' },
  RANGE_INVALID: { status: 416, message: 'requested range not satisfiable' },
  NOT_FOUND: { status: 404, message: 'not found' },
  UNAVAILABLE: { status: 503, message: 'service unavailable' },
  UPSTREAM_ERROR: { status: 502, message: 'upstream registry failed' },
  UPSTREAM_TIMEOUT: { status: 504, message: 'the upstream registry timed out', wire: 'UPSTREAM_ERROR' },
  INTERNAL_ERROR: { status: 500, message: 'internal error' },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export interface RegistryErrorOptions {
  readonly detail?: unknown;
  readonly headers?: Record<string, string>;
}

export class RegistryError extends Error {
  /** The catalogue entry; `wireCode` is what the client reads. */
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: unknown;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message?: string, options: RegistryErrorOptions = {}) {
    const entry: CatalogueEntry = ERROR_CATALOGUE[code];
    super(message ?? entry.message);
    this.name = 'RegistryError';
    this.code = code;
    this.status = entry.status;
    this.detail = options.detail;
    this.headers = options.headers ?? {};
  }

  get wireCode(): string {
    const entry: CatalogueEntry = ERROR_CATALOGUE[this.code];
    return entry.wire ?? this.code;
  }
}

export function isRegistryError(error: unknown): error is RegistryError {
  return error instanceof RegistryError;
}

/** The OCI error JSON body for one error. */
export function errorBody(error: RegistryError): string {
  const entry: { code: string; message: string; detail?: unknown } = { code: error.wireCode, message: error.message };
  if (error.detail !== undefined) entry.detail = error.detail;
  return JSON.stringify({ errors: [entry] });
}

/** Any thrown value as a RegistryError; unknown failures become INTERNAL_ERROR without leaking their text. */
export function toRegistryError(error: unknown): RegistryError {
  if (isRegistryError(error)) return error;
  return new RegistryError('INTERNAL_ERROR');
}
