/**
 * GET/HEAD `/v2/<name>/manifests/<reference>` through the cache: a tag is resolved upstream
 * (./tag-resolutions.ts), then the manifest is answered by digest from disk, filled once per digest
 * when it is not there. Manifests are small (at most MAX_MANIFEST_BYTES), so a fill completes before
 * anyone is answered; a HEAD fills too, so the next one is answered from disk.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isDigest } from '../../oci/names.js';
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST } from '../../oci/media-types.js';
import { MAX_MANIFEST_BYTES } from '../../lib/read-body.js';
import { oneHeaderValue } from '../../lib/header-value.js';
import { tryParseDigest, type Digest } from '../filesystem/digest.js';
import { notModified, respond } from '../filesystem/stores.js';
import type { RequestContext } from '../backend.js';
import type { CachedFile } from './content-store.js';
import { cachedInRepository, contentPath, fillFailed, type CacheParts, type FlightOutcome } from './cache-parts.js';
import type { TagResolutions } from './tag-resolutions.js';
import { fillVerified } from './verified-fill.js';

const MANIFEST_TYPES = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST].join(', ');

async function fillManifest(parts: CacheParts, repository: string, digest: Digest, accept: string): Promise<FlightOutcome> {
  const present = await parts.store.acquire('manifests', digest);
  if (present) {
    await present.release();
    return 'present';
  }
  const path = contentPath('manifests', repository, digest.value);
  const askedAt = Date.now();
  const response = await parts.source.fetchContent(repository, path, 'GET', accept);
  const mediaType = (String(response.headers['content-type'] ?? '').split(';', 1)[0] ?? '').trim();
  if (response.statusCode !== 200 || mediaType === '' || Number(response.headers['content-length'] ?? 0) > MAX_MANIFEST_BYTES) {
    await response.body.dump().catch(() => undefined); // a quiet end (destroy() would emit an abort error)
    return 'not-served';
  }
  const length = response.headers['content-length'];
  const declaredSize = typeof length === 'string' ? Number(length) : undefined;
  const room = parts.store.reserve(Math.min(declaredSize ?? MAX_MANIFEST_BYTES, parts.store.maxBytes));
  if (!room) {
    await response.body.dump().catch(() => undefined); // other fills hold the cache's room: forwarded uncached
    return 'not-served';
  }
  try {
    return await fillReserved(parts, { repository, digest, askedAt, path, mediaType, declaredSize }, response.body);
  } finally {
    room();
  }
}

async function fillReserved(
  parts: CacheParts,
  fill: { repository: string; digest: Digest; askedAt: number; path: string; mediaType: string; declaredSize: number | undefined },
  body: AsyncIterable<Buffer>,
): Promise<FlightOutcome> {
  const { repository, digest, askedAt, path, mediaType, declaredSize } = fill;
  await parts.references.remember('manifests', repository, digest, askedAt);
  return fillVerified(
    parts.store,
    {
      kind: 'manifests',
      digest,
      body,
      declaredSize,
      prefix: Buffer.from(`${mediaType}\n`),
      maxBytes: MAX_MANIFEST_BYTES,
    },
    undefined,
    { logger: parts.logger, observer: parts.observer, upstreamPath: path },
  );
}

async function answerManifest(req: IncomingMessage, res: ServerResponse, digest: Digest, file: CachedFile): Promise<void> {
  let stored: Buffer;
  try {
    stored = Buffer.alloc(file.size);
    await file.handle.read(stored, 0, file.size, 0);
  } finally {
    await file.release();
  }
  const newline = stored.indexOf(0x0a);
  const etag = `"${digest.value}"`;
  const headers = { 'Content-Type': stored.subarray(0, newline).toString('utf8'), 'Docker-Content-Digest': digest.value, ETag: etag };
  const method = req.method ?? 'GET';
  if (notModified(req.headers['if-none-match'], etag)) {
    respond(res, method, 304, headers);
    return;
  }
  respond(res, method, 200, headers, stored.subarray(newline + 1));
}

export async function serveCachedManifest(
  parts: CacheParts,
  tags: TagResolutions,
  req: IncomingMessage,
  res: ServerResponse,
  context: RequestContext,
  forward: () => Promise<void>,
): Promise<void> {
  const { repository, reference } = context.route;
  const accept = oneHeaderValue(req.headers.accept);
  let digest = tryParseDigest(reference);
  if (!digest) {
    if (isDigest(reference) || accept === undefined) return forward(); // an unknown algorithm; a client without Accept
    digest = await tags.resolve(repository, reference, accept);
    if (!digest) return forward();
  }
  const fillAccept = accept === undefined ? MANIFEST_TYPES : `${MANIFEST_TYPES}, ${accept}`;
  const cached = await cachedInRepository(parts, 'manifests', repository, digest, fillAccept);
  if (cached === 'elsewhere') return forward();
  if (cached) {
    parts.observer?.hit('manifests');
    return answerManifest(req, res, digest, cached);
  }
  parts.observer?.miss('manifests');
  const wanted = digest;
  const { outcome } = await parts.flights.once(`manifests/${digest.value}`, () => fillManifest(parts, repository, wanted, fillAccept));
  if (outcome === 'mismatch' || outcome === 'broken') throw fillFailed(outcome);
  if (outcome === 'not-served') return forward();
  const filled = await cachedInRepository(parts, 'manifests', repository, digest, fillAccept);
  if (filled === undefined || filled === 'elsewhere') return forward();
  return answerManifest(req, res, digest, filled);
}
