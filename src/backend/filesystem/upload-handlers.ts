/**
 * Blob pushes: `POST /v2/<name>/blobs/uploads/` (start, single-request monolithic with `?digest=`,
 * or cross-repository mount with `?mount=&from=`), and on `/v2/<name>/blobs/uploads/<id>`: GET
 * (status), PATCH (chunk), PUT (close, with an optional last chunk) and DELETE (cancel).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RegistryError } from '../../oci/errors.js';
import { isValidRepositoryName } from '../../oci/names.js';
import { type Route } from '../../oci/route.js';
import { parseDigest, type Digest } from './digest.js';
import { parseContentRange, uploadRangeHeader } from './http-range.js';
import { respond, type Stores } from './stores.js';
import { uploadLocation, type ChunkInput } from './upload-store.js';

function blobLocation(repository: string, digest: Digest): string {
  return `/v2/${repository}/blobs/${digest.value}`;
}

function chunkFrom(req: IncomingMessage): ChunkInput {
  const rangeHeader = req.headers['content-range'];
  const range = rangeHeader === undefined ? undefined : parseContentRange(rangeHeader);
  if (rangeHeader !== undefined && range === undefined) {
    throw new RegistryError('BLOB_UPLOAD_INVALID', 'Content-Range must be <start>-<end>', { detail: { contentRange: rangeHeader } });
  }
  const lengthHeader = req.headers['content-length'];
  const declaredLength = lengthHeader === undefined || !/^\d{1,15}$/.test(lengthHeader) ? undefined : Number(lengthHeader);
  return { body: req, range, declaredLength };
}

function sessionHeaders(repository: string, id: string, received: number): Record<string, string> {
  return { Location: uploadLocation(repository, id), Range: uploadRangeHeader(received), 'Docker-Upload-UUID': id };
}

function created(res: ServerResponse, method: string, repository: string, digest: Digest): void {
  respond(res, method, 201, { Location: blobLocation(repository, digest), 'Docker-Content-Digest': digest.value });
}

/** `?mount=<digest>&from=<repo>`: links the blob when `from` holds it; undefined when it cannot. */
async function tryMount(stores: Stores, repository: string, query: URLSearchParams): Promise<Digest | undefined> {
  const mount = query.get('mount');
  const from = query.get('from');
  if (mount === null || from === null) return undefined;
  const digest = parseDigest(mount);
  if (!isValidRepositoryName(from)) return undefined;
  // Only a repository that links the blob can lend it: dedup on disk must not leak across repositories.
  const source = await stores.blobs.statInRepository(from, digest, { includeManifests: false });
  if (!source) return undefined;
  await stores.blobs.markUsed(digest);
  await stores.blobs.link(repository, digest);
  return digest;
}

export async function startUpload(stores: Stores, req: IncomingMessage, res: ServerResponse, route: Route): Promise<void> {
  const method = req.method ?? 'POST';
  const { repository } = route;
  const query = new URLSearchParams(route.rawQuery);
  const mounted = await tryMount(stores, repository, query);
  if (mounted) {
    created(res, method, repository, mounted);
    return;
  }
  const digestParam = query.get('digest');
  if (digestParam !== null && !query.has('mount')) {
    // Single-request monolithic upload: the body is the whole blob.
    const digest = parseDigest(digestParam);
    const chunk = chunkFrom(req);
    const id = await stores.uploads.create(repository);
    try {
      await stores.uploads.complete(repository, id, digest, chunk);
    } catch (error) {
      await stores.uploads.cancel(repository, id).catch(() => undefined);
      throw error;
    }
    created(res, method, repository, digest);
    return;
  }
  const id = await stores.uploads.create(repository);
  respond(res, method, 202, sessionHeaders(repository, id, 0));
}

export async function uploadStatus(stores: Stores, req: IncomingMessage, res: ServerResponse, route: Route): Promise<void> {
  const received = await stores.uploads.status(route.repository, route.reference);
  respond(res, req.method ?? 'GET', 204, sessionHeaders(route.repository, route.reference, received));
}

export async function patchUpload(stores: Stores, req: IncomingMessage, res: ServerResponse, route: Route): Promise<void> {
  const received = await stores.uploads.appendChunk(route.repository, route.reference, chunkFrom(req));
  respond(res, req.method ?? 'PATCH', 202, sessionHeaders(route.repository, route.reference, received));
}

export async function completeUpload(stores: Stores, req: IncomingMessage, res: ServerResponse, route: Route): Promise<void> {
  const digestParam = new URLSearchParams(route.rawQuery).get('digest');
  if (digestParam === null) throw new RegistryError('DIGEST_INVALID', 'the digest query parameter is required to close an upload');
  const digest = parseDigest(digestParam);
  await stores.uploads.complete(route.repository, route.reference, digest, chunkFrom(req));
  created(res, req.method ?? 'PUT', route.repository, digest);
}

export async function cancelUpload(stores: Stores, req: IncomingMessage, res: ServerResponse, route: Route): Promise<void> {
  await stores.uploads.cancel(route.repository, route.reference);
  respond(res, req.method ?? 'DELETE', 204, {});
}
