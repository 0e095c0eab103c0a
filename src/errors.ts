/**
 * One catalogue of registry error codes. Every failure that reaches a client is a RegistryError
 * carrying one of these codes; sendError() turns it into the OCI error JSON body
 * `{"errors":[{"code","message","detail"}]}` with the code's HTTP status.
 */
import type { ServerResponse } from 'node:http';

export const ERROR_STATUS = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 404,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
  RANGE_INVALID: 416,
  NOT_FOUND: 404,
  UNAVAILABLE: 503,
  UPSTREAM_ERROR: 502,
  INTERNAL_ERROR: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

const DEFAULT_MESSAGE: Record<ErrorCode, string> = {
  BLOB_UNKNOWN: 'blob unknown to registry',
  BLOB_UPLOAD_INVALID: 'blob upload invalid',
  BLOB_UPLOAD_UNKNOWN: 'blob upload unknown to registry',
  DIGEST_INVALID: 'provided digest did not match uploaded content',
  MANIFEST_BLOB_UNKNOWN: 'manifest references a manifest or blob unknown to registry',
  MANIFEST_INVALID: 'manifest invalid',
  MANIFEST_UNKNOWN: 'manifest unknown to registry',
  NAME_INVALID: 'invalid repository name',
  NAME_UNKNOWN: 'repository name not known to registry',
  SIZE_INVALID: 'provided length did not match content length',
  UNAUTHORIZED: 'authentication required',
  DENIED: 'requested access to the resource is denied',
  UNSUPPORTED: 'the operation is unsupported',
  TOOMANYREQUESTS: 'too many requests',
  RANGE_INVALID: 'requested range not satisfiable',
  NOT_FOUND: 'not found',
  UNAVAILABLE: 'service unavailable',
  UPSTREAM_ERROR: 'upstream registry failed',
  INTERNAL_ERROR: 'internal error',
};

export interface RegistryErrorOptions {
  /** Overrides the code's default status where the spec asks for another one for this case. */
  status?: number;
  detail?: unknown;
  headers?: Record<string, string>;
}

export class RegistryError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: unknown;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message?: string, options: RegistryErrorOptions = {}) {
    super(message ?? DEFAULT_MESSAGE[code]);
    this.name = 'RegistryError';
    this.code = code;
    this.status = options.status ?? ERROR_STATUS[code];
    this.detail = options.detail;
    this.headers = options.headers ?? {};
  }
}

export function isRegistryError(error: unknown): error is RegistryError {
  return error instanceof RegistryError;
}

/** The OCI error JSON body for one error. */
export function errorBody(error: RegistryError): string {
  const entry: { code: string; message: string; detail?: unknown } = { code: error.code, message: error.message };
  if (error.detail !== undefined) entry.detail = error.detail;
  return JSON.stringify({ errors: [entry] });
}

/**
 * Writes the error as the response, unless headers were already sent, in which case the only honest
 * thing left is to destroy the connection so the client cannot mistake a truncated body for a whole one.
 */
export function sendError(res: ServerResponse, error: RegistryError, method = 'GET'): void {
  if (writeError(res, error, method)) res.end();
}

/**
 * sendError without the end of the response, for a caller that ends it later (a lingering close);
 * false when headers were already sent and the connection was destroyed instead.
 */
export function writeError(res: ServerResponse, error: RegistryError, method = 'GET'): boolean {
  if (res.headersSent) {
    res.destroy();
    return false;
  }
  const body = errorBody(error);
  res.statusCode = error.status;
  for (const [name, value] of Object.entries(error.headers)) res.setHeader(name, value);
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  if (method === 'HEAD') res.flushHeaders();
  else res.write(body);
  return true;
}

/** Any thrown value as a RegistryError; unknown failures become INTERNAL_ERROR without leaking their text. */
export function toRegistryError(error: unknown): RegistryError {
  if (isRegistryError(error)) return error;
  return new RegistryError('INTERNAL_ERROR');
}
