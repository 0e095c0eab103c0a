/**
 * The web UI's reads of the built-in registry, straight from its stores: tags by page, a manifest
 * with the time its tag was written, a small blob, referrers, and deletes with the same effect as
 * `DELETE /v2/<name>/manifests/<reference>`.
 */
import { stat } from 'node:fs/promises';
import { RegistryError } from '../../oci/errors.js';
import { isDigest } from '../../oci/names.js';
import type { ContentReader, ManifestContent } from '../backend.js';
import { parseDigest, tryParseDigest } from './digest.js';
import { MAX_PAGE_SIZE } from '../../oci/paging.js';
import type { Stores } from './stores.js';

async function modifiedAt(path: string): Promise<Date | undefined> {
  return (await stat(path).catch(() => undefined))?.mtime;
}

export function filesystemContentReader(stores: Stores): ContentReader {
  const { manifests, blobs, layout } = stores;
  return {
    async listTags(repository, after, limit) {
      const size = Math.min(Math.max(limit, 0), MAX_PAGE_SIZE - 1);
      const page = await manifests.tagsPage(repository, { n: size + 1, last: after });
      if (!page) return undefined;
      return { tags: page.items.slice(0, size), more: page.items.length > size };
    },

    async readManifest(repository, reference): Promise<ManifestContent | undefined> {
      if (isDigest(reference) && !tryParseDigest(reference)) return undefined;
      const stored = await manifests.get(repository, reference);
      if (!stored) return undefined;
      const written = isDigest(reference) ? layout.manifestLink(repository, stored.digest) : layout.tag(repository, reference);
      return { digest: stored.digest.value, mediaType: stored.mediaType, bytes: stored.bytes, pushedAt: await modifiedAt(written) };
    },

    async readBlob(repository, digest, maxBytes) {
      const parsed = tryParseDigest(digest);
      const info = parsed && (await blobs.statInRepository(repository, parsed, { includeManifests: true }));
      if (!parsed || !info) return undefined;
      if (info.size > maxBytes) throw new RegistryError('BLOB_TOO_LARGE', `the blob is larger than ${maxBytes} bytes`);
      return blobs.readBytes(parsed);
    },

    async listReferrers(repository, digest) {
      const subject = tryParseDigest(digest);
      return subject ? (await manifests.referrers(repository, subject)).descriptors : [];
    },

    async deleteManifest(repository, reference) {
      const removed = isDigest(reference)
        ? await manifests.deleteManifest(repository, parseDigest(reference))
        : await manifests.deleteTag(repository, reference);
      if (!removed) throw new RegistryError('MANIFEST_UNKNOWN', undefined, { detail: { reference } });
    },
  };
}
