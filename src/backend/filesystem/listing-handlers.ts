/** GET `/v2/<name>/tags/list` (paged) and GET `/v2/<name>/referrers/<digest>` (filterable). */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RegistryError } from '../../oci/errors.js';
import type { Route } from '../../oci/route.js';
import { parseDigest } from './digest.js';
import { OCI_INDEX } from '../../oci/media-types.js';
import { MAX_PAGE_SIZE, nextPageLink, parsePageRequest } from '../../oci/paging.js';
import { nextLinkHeader } from './paging.js';
import type { Stores } from './stores.js';
import { sendJson } from '../../oci/respond.js';

export async function listTags(stores: Stores, req: IncomingMessage, res: ServerResponse, route: Route): Promise<void> {
  const page = await stores.manifests.tagsPage(route.repository, parsePageRequest(new URLSearchParams(route.rawQuery), MAX_PAGE_SIZE));
  if (!page) throw new RegistryError('NAME_UNKNOWN', undefined, { detail: { name: route.repository } });
  const link = nextLinkHeader(`/v2/${route.repository}/tags/list`, page);
  sendJson(res, req.method ?? 'GET', 200, { name: route.repository, tags: page.items }, link ? { Link: link } : {});
}

/**
 * The referrers of a digest, as an OCI image index. An unknown subject (or repository) has no
 * referrers: 200 with an empty list, never 404, which would tell the client the API is missing.
 * A long list comes in pages, each with a `Link` to the next (the spec's pagination), so that one
 * request looks at a bounded number of entries.
 */
export async function listReferrers(stores: Stores, req: IncomingMessage, res: ServerResponse, route: Route): Promise<void> {
  const subject = parseDigest(route.reference);
  const query = new URLSearchParams(route.rawQuery);
  const artifactType = query.get('artifactType') || undefined;
  const page = await stores.manifests.referrers(route.repository, subject, { artifactType, last: query.get('last') || undefined });
  const headers: Record<string, string> = artifactType !== undefined ? { 'OCI-Filters-Applied': 'artifactType' } : {};
  if (page.next !== undefined) {
    const next = { ...(artifactType !== undefined ? { artifactType } : {}), last: page.next };
    headers.Link = nextPageLink(`/v2/${route.repository}/referrers/${subject.value}`, next);
  }
  const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: page.descriptors };
  sendJson(res, req.method ?? 'GET', 200, index, { 'Content-Type': OCI_INDEX, ...headers });
}
