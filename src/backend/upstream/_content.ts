/**
 * The web UI's reads of an upstream registry, each one request over the pool with the gateway's
 * own headers (a token of its own for an upstream in token mode), every body read with a hard cap.
 * Referrers come from the referrers API, or on a registry without one (Distribution 2.8) from the
 * referrers tag `<alg>-<hex>` that OCI clients maintain there.
 */
import { createHash } from 'node:crypto';
import type { Dispatcher, Pool } from 'undici';
import { RegistryError } from '../../oci/errors.js';
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST } from '../../oci/media-types.js';
import { MAX_MANIFEST_BYTES } from '../../lib/read-body.js';
import type { ContentReader, ManifestContent, TagPage } from '../backend.js';
import type { UpstreamAccess } from './_token-auth.js';

export const MANIFEST_TYPES = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST].join(', ');
const MAX_LIST_BYTES = 4 * 1024 * 1024;
const MAX_TAGS_PAGE = 999;

/** Headers for the gateway's own request needing `access`. */
export type OwnHeaders = (access: UpstreamAccess[], accept: string) => Promise<Record<string, string>>;

function pull(repository: string): UpstreamAccess[] {
  return [{ type: 'repository', name: repository, actions: ['pull'] }];
}

/** The body, or a RegistryError once it passes `limit` bytes (reading stops there). */
async function readCapped(body: Dispatcher.ResponseData['body'], limit: number, tooLarge: () => RegistryError): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      body.destroy();
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new RegistryError('UPSTREAM_ERROR', 'the upstream answered something that is not JSON');
  }
}

function upstreamAnswered(status: number, what: string): RegistryError {
  return new RegistryError('UPSTREAM_ERROR', `the upstream answered ${status} to ${what}`);
}

/** What every read needs: one request over the pool, and the gateway's own headers for it. */
interface Upstream {
  readonly send: (options: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;
  readonly ownHeaders: OwnHeaders;
}

export function upstreamContentReader(
  pool: Pool,
  ownHeaders: OwnHeaders,
  failure: (error: unknown, path: string) => RegistryError,
): ContentReader {
  const upstream: Upstream = {
    ownHeaders,
    send: (options) =>
      pool.request(options).catch((error: unknown) => {
        throw error instanceof RegistryError ? error : failure(error, options.path);
      }),
  };
  return {
    listTags: (repository, after, limit) => listTags(upstream, repository, after, limit),
    readManifest: (repository, reference) => readManifest(upstream, repository, reference),
    readBlob: (repository, digest, maxBytes) => readBlob(upstream, repository, digest, maxBytes),
    listReferrers: (repository, digest) => listReferrers(upstream, repository, digest),
    deleteManifest: (repository, reference) => deleteManifest(upstream, repository, reference),
  };
}

async function readManifest({ send, ownHeaders }: Upstream, repository: string, reference: string): Promise<ManifestContent | undefined> {
  const headers = await ownHeaders(pull(repository), MANIFEST_TYPES);
  const response = await send({ path: `/v2/${repository}/manifests/${reference}`, method: 'GET', headers });
  // 400: a digest of an algorithm the registry does not know names no manifest there either.
  if (response.statusCode === 404 || response.statusCode === 400) {
    await response.body.dump();
    return undefined;
  }
  if (response.statusCode !== 200) {
    await response.body.dump();
    throw upstreamAnswered(response.statusCode, 'a manifest read');
  }
  const bytes = await readCapped(
    response.body,
    MAX_MANIFEST_BYTES,
    () => new RegistryError('MANIFEST_TOO_LARGE', 'the manifest is too large'),
  );
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const stated = response.headers['docker-content-digest'];
  const contentType = (String(response.headers['content-type'] ?? '').split(';', 1)[0] ?? '').trim();
  return { digest: typeof stated === 'string' && stated.startsWith('sha') ? stated : digest, mediaType: contentType, bytes };
}

async function listTags(
  { send, ownHeaders }: Upstream,
  repository: string,
  after: string | undefined,
  limit: number,
): Promise<TagPage | undefined> {
  const size = Math.min(Math.max(limit, 0), MAX_TAGS_PAGE);
  const query = new URLSearchParams({ n: String(size + 1) });
  if (after !== undefined) query.set('last', after);
  const headers = await ownHeaders(pull(repository), 'application/json');
  const response = await send({ path: `/v2/${repository}/tags/list?${query}`, method: 'GET', headers });
  if (response.statusCode === 404) {
    await response.body.dump();
    return undefined;
  }
  if (response.statusCode !== 200) {
    await response.body.dump();
    throw upstreamAnswered(response.statusCode, 'a tag list');
  }
  const parsed = parseJson(
    await readCapped(response.body, MAX_LIST_BYTES, () => new RegistryError('UPSTREAM_ERROR', 'the tag list is too large')),
  ) as { tags?: unknown };
  const tags = Array.isArray(parsed.tags) ? parsed.tags.filter((tag): tag is string => typeof tag === 'string').sort() : [];
  return { tags: tags.slice(0, size), more: tags.length > size };
}

async function readBlob({ send, ownHeaders }: Upstream, repository: string, digest: string, maxBytes: number): Promise<Buffer | undefined> {
  const headers = await ownHeaders(pull(repository), '*/*');
  const response = await send({ path: `/v2/${repository}/blobs/${digest}`, method: 'GET', headers });
  if (response.statusCode === 404) {
    await response.body.dump();
    return undefined;
  }
  if (response.statusCode !== 200) {
    // Not followed: a redirect would lead to a host this gateway was not configured for.
    await response.body.dump();
    throw upstreamAnswered(response.statusCode, 'a blob read');
  }
  const tooLarge = () => new RegistryError('BLOB_TOO_LARGE', `the blob is larger than ${maxBytes} bytes`);
  if (Number(response.headers['content-length'] ?? 0) > maxBytes) {
    response.body.destroy();
    throw tooLarge();
  }
  return readCapped(response.body, maxBytes, tooLarge);
}

async function listReferrers(upstream: Upstream, repository: string, digest: string): Promise<Record<string, unknown>[]> {
  const headers = await upstream.ownHeaders(pull(repository), OCI_INDEX);
  const response = await upstream.send({ path: `/v2/${repository}/referrers/${digest}`, method: 'GET', headers });
  let index: unknown;
  if (response.statusCode === 200) {
    index = parseJson(
      await readCapped(response.body, MAX_MANIFEST_BYTES, () => new RegistryError('UPSTREAM_ERROR', 'the referrers list is too large')),
    );
  } else {
    await response.body.dump();
    if (response.statusCode !== 404) throw upstreamAnswered(response.statusCode, 'a referrers list');
    const fallback = await readManifest(upstream, repository, digest.replace(':', '-').slice(0, 128));
    index = fallback && fallback.mediaType === OCI_INDEX ? parseJson(fallback.bytes) : undefined;
  }
  const manifests = (index as { manifests?: unknown } | undefined)?.manifests;
  return Array.isArray(manifests)
    ? manifests.filter((entry): entry is Record<string, unknown> => typeof entry === 'object' && entry !== null && !Array.isArray(entry))
    : [];
}

async function deleteManifest({ send, ownHeaders }: Upstream, repository: string, reference: string): Promise<void> {
  const headers = await ownHeaders([{ type: 'repository', name: repository, actions: ['delete'] }], MANIFEST_TYPES);
  const response = await send({ path: `/v2/${repository}/manifests/${reference}`, method: 'DELETE', headers });
  await response.body.dump();
  if (response.statusCode === 202 || response.statusCode === 200 || response.statusCode === 204) return;
  if (response.statusCode === 404) throw new RegistryError('MANIFEST_UNKNOWN', undefined, { detail: { reference } });
  if (response.statusCode === 405 || response.statusCode === 400) {
    // Distribution 2.8 answers a delete by tag 400 DIGEST_INVALID, and 405 when deletes are off.
    throw new RegistryError(
      'UNSUPPORTED',
      'The registry behind this gateway does not delete this (deletes by tag, or deletes at all, are off there).',
    );
  }
  throw upstreamAnswered(response.statusCode, 'a delete');
}
