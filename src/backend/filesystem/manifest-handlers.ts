/** GET/HEAD/PUT/DELETE `/v2/<name>/manifests/<tag|digest>`. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RegistryError } from '../../oci/errors.js';
import { isDigest } from '../../oci/names.js';
import { type Route } from '../../oci/route.js';
import { CANONICAL_ALGORITHM, digestBytes, parseDigest, type Digest } from './digest.js';
import { parseManifest } from './manifest-validation.js';
import { MAX_MANIFEST_BYTES, readBodyWithLimit } from '../../lib/read-body.js';
import { notModified, respond, type Stores } from './stores.js';

function manifestUnknown(reference: string): RegistryError {
  return new RegistryError('MANIFEST_UNKNOWN', undefined, { detail: { reference } });
}

/** The reference as a digest when it is one (unsupported algorithms are DIGEST_INVALID), else undefined (a tag). */
function referenceDigest(reference: string): Digest | undefined {
  return isDigest(reference) ? parseDigest(reference) : undefined;
}

export async function getManifest(stores: Stores, req: IncomingMessage, res: ServerResponse, route: Route): Promise<void> {
  const method = req.method ?? 'GET';
  referenceDigest(route.reference); // a digest of an unsupported algorithm is a 400, not a 404
  const manifest = await stores.manifests.get(route.repository, route.reference);
  if (!manifest) throw manifestUnknown(route.reference);
  const etag = `"${manifest.digest.value}"`;
  const headers = { 'Content-Type': manifest.mediaType, 'Docker-Content-Digest': manifest.digest.value, ETag: etag };
  if (notModified(req.headers['if-none-match'], etag)) {
    respond(res, method, 304, headers);
    return;
  }
  respond(res, method, 200, headers, manifest.bytes);
}

/** `body`: the manifest, when the gateway already read it (for a protected-tag check). */
export async function putManifest(
  stores: Stores,
  req: IncomingMessage,
  res: ServerResponse,
  route: Route,
  body?: Buffer,
  tagMustNotMove?: boolean,
): Promise<void> {
  const expected = referenceDigest(route.reference);
  const bytes = body ?? (await readBodyWithLimit(req, MAX_MANIFEST_BYTES, { deadlineMs: stores.bodyTimeoutMs }));
  const manifest = parseManifest(bytes, req.headers['content-type']);
  const digest = digestBytes(expected?.algorithm ?? CANONICAL_ALGORITHM, bytes);
  if (expected && expected.hex !== digest.hex) {
    throw new RegistryError('DIGEST_INVALID', undefined, { detail: { expected: expected.value, actual: digest.value } });
  }
  await stores.manifests.checkReferences(route.repository, manifest);
  await stores.manifests.put(route.repository, manifest, bytes, digest, expected ? undefined : route.reference, tagMustNotMove);
  const headers: Record<string, string> = {
    Location: `/v2/${route.repository}/manifests/${digest.value}`,
    'Docker-Content-Digest': digest.value,
  };
  // Tells the client the registry indexed the subject, so it need not maintain a referrers tag.
  if (manifest.subject) headers['OCI-Subject'] = manifest.subject.digest.value;
  respond(res, req.method ?? 'PUT', 201, headers);
}

export async function deleteManifest(stores: Stores, req: IncomingMessage, res: ServerResponse, route: Route): Promise<void> {
  const digest = referenceDigest(route.reference);
  const removed = digest
    ? await stores.manifests.deleteManifest(route.repository, digest)
    : await stores.manifests.deleteTag(route.repository, route.reference);
  if (!removed) throw manifestUnknown(route.reference);
  respond(res, req.method ?? 'DELETE', 202, {});
}
