/** What the request handlers of the built-in registry work with, and how they answer. */
import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { BlobStore } from './blob-store.js';
import type { StorageLayout } from './layout.js';
import type { ManifestStore } from './manifest-store.js';
import type { UploadStore } from './upload-store.js';

export interface Stores {
  readonly layout: StorageLayout;
  readonly blobs: BlobStore;
  readonly manifests: ManifestStore;
  readonly uploads: UploadStore;
  readonly logger: Logger;
  /** How long a manifest's body may take to arrive (`server.bodyTimeout`). */
  readonly bodyTimeoutMs: number;
}

/** Ends the response with `status`, `headers` and an optional body (never sent for HEAD). */
export function respond(
  res: ServerResponse,
  method: string,
  status: number,
  headers: Record<string, string | number>,
  body?: string | Buffer,
): void {
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  const length = body === undefined ? 0 : Buffer.byteLength(body);
  if (!('Content-Length' in headers) && status !== 204 && status !== 304) res.setHeader('Content-Length', length);
  res.end(method === 'HEAD' || status === 204 || status === 304 ? undefined : body);
}

/** True when the request's If-None-Match names `etag` (or `*`): the client's copy is current. */
export function notModified(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  return ifNoneMatch
    .split(',')
    .map((value) => value.trim().replace(/^W\//, ''))
    .some((value) => value === '*' || value === etag);
}
