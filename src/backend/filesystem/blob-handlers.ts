/** GET/HEAD/DELETE `/v2/<name>/blobs/<digest>`: downloads (whole or one range) and unlinking. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { open, type FileHandle } from 'node:fs/promises';
import type { Logger } from 'pino';
import { RegistryError } from '../../oci/errors.js';
import type { Route } from '../../oci/route.js';
import { parseDigest, type Digest } from './digest.js';
import { isNotFound } from './durable-fs.js';
import { parseRangeHeader } from './http-range.js';
import { sendFileRange } from './send-file.js';
import { notModified, respond, type Stores } from './stores.js';

export async function getBlob(stores: Stores, req: IncomingMessage, res: ServerResponse, route: Route): Promise<void> {
  const digest = parseDigest(route.reference);
  const info = await stores.blobs.statInRepository(route.repository, digest, { includeManifests: true });
  if (!info) throw new RegistryError('BLOB_UNKNOWN', undefined, { detail: { digest: digest.value } });

  // Open before answering, so a blob removed in between is a clean 404 rather than a broken body.
  let handle;
  try {
    handle = await open(info.path, 'r');
  } catch (error) {
    if (isNotFound(error)) throw new RegistryError('BLOB_UNKNOWN', undefined, { detail: { digest: digest.value } });
    throw error;
  }
  try {
    await answerWithBlobFile(req, res, digest, handle, (await handle.stat()).size, stores.logger);
  } finally {
    await handle.close();
  }
}

/** The headers of a blob's answer but its length, as Distribution sends them; shared with the content cache. */
export function blobHeaders(digest: Digest): Record<string, string> {
  return {
    'Content-Type': 'application/octet-stream',
    'Docker-Content-Digest': digest.value,
    ETag: `"${digest.value}"`,
    'Accept-Ranges': 'bytes',
    'Cache-Control': 'max-age=31536000',
  };
}

/**
 * Answers a blob GET or HEAD from an open file of its verified bytes: conditional requests, one
 * range, the headers Distribution sends. Shared by the built-in registry and the content cache.
 * Does not close `handle`.
 */
export async function answerWithBlobFile(
  req: IncomingMessage,
  res: ServerResponse,
  digest: Digest,
  handle: FileHandle,
  size: number,
  logger: Logger,
): Promise<void> {
  const method = req.method ?? 'GET';
  const etag = `"${digest.value}"`;
  const headers: Record<string, string | number> = blobHeaders(digest);
  if (notModified(req.headers['if-none-match'], etag)) {
    respond(res, method, 304, headers);
    return;
  }
  const ifRange = req.headers['if-range'];
  const range = ifRange === undefined || ifRange === etag ? parseRangeHeader(req.headers.range, size) : ({ kind: 'whole' } as const);
  if (range.kind === 'unsatisfiable') {
    throw new RegistryError('RANGE_INVALID', undefined, { headers: { 'Content-Range': `bytes */${size}` }, detail: { size } });
  }
  const [start, end] = range.kind === 'partial' ? [range.range.start, range.range.end] : [0, size - 1];
  res.statusCode = range.kind === 'partial' ? 206 : 200;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  if (range.kind === 'partial') res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
  res.setHeader('Content-Length', end - start + 1);
  if (method === 'HEAD' || end < start) {
    res.end();
    return;
  }
  try {
    await sendFileRange(handle, res, start, end);
  } catch (error) {
    // The client went away or the disk failed mid-body: the response is cut, never completed.
    logger.debug({ err: error, digest: digest.value }, 'blob download interrupted');
    res.destroy();
  }
}

export async function deleteBlob(stores: Stores, req: IncomingMessage, res: ServerResponse, route: Route): Promise<void> {
  const digest = parseDigest(route.reference);
  if (!(await stores.blobs.unlinkFromRepository(route.repository, digest))) {
    throw new RegistryError('BLOB_UNKNOWN', undefined, { detail: { digest: digest.value } });
  }
  respond(res, req.method ?? 'DELETE', 202, { 'Docker-Content-Digest': digest.value });
}
