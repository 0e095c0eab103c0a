/**
 * What a write touches, for rules with protected tags, and how to ask the registry behind about it.
 * A push or delete of a manifest names a tag or a digest; a blob delete names a blob. Whether a push
 * moves an existing tag, or a blob is used by a protected tag, is asked of the backend only when a
 * rule needs to know (access/policy.ts asks each question at most once; the blob walk of
 * ./protected-blobs.ts is shared by every rule that asks it, within one budget per request).
 */
import { createHash } from 'node:crypto';
import { isDigest } from '../oci/names.js';
import type { Route } from '../oci/route.js';
import type { ContentProbe, ManifestTarget } from './policy.js';
import { ProtectedBlobWalk, type TaggedContent } from './protected-blobs.js';

/** What the probe reads; the Backend interface has it, on both backends. */
export type ContentSource = TaggedContent;

/** A manifest named by `reference`: by digest or by tag. */
export function manifestTarget(reference: string): ManifestTarget {
  return isDigest(reference) ? { digest: reference } : { tag: reference };
}

/** What a request writes or deletes, for rules with protected tags; undefined for requests they do not guard. */
export function contentTarget(route: Route, method: string): ManifestTarget | undefined {
  if (route.kind === 'manifest' && (method === 'PUT' || method === 'DELETE')) return manifestTarget(route.reference);
  if (route.kind === 'blob' && method === 'DELETE') return { blob: route.reference };
  return undefined;
}

function digestOf(bytes: Buffer, like: string): string {
  const algorithm = like.slice(0, like.indexOf(':'));
  return `${algorithm}:${createHash(algorithm === 'sha512' ? 'sha512' : 'sha256')
    .update(bytes)
    .digest('hex')}`;
}

/**
 * The probe for one request on `route` (its repository and tag or digest). `readBody` (a manifest PUT's body) is called only when a push
 * might move a protected tag; what it read is kept in `body()` so the backend sends it on.
 */
export function contentProbe(
  source: ContentSource,
  route: Pick<Route, 'repository' | 'reference'>,
  method: string,
  readBody: () => Promise<Buffer>,
): ContentProbe & { body(): Buffer | undefined; blobUndecided(): boolean } {
  let body: Buffer | undefined;
  let blobWalk: ProtectedBlobWalk | undefined;
  return {
    // A push to a protected tag moves it only when the tag exists and the pushed manifest differs.
    async tagMoves() {
      const current = await source.manifestDigest(route.repository, route.reference);
      if (current === undefined || method !== 'PUT') return current !== undefined;
      body = await readBody();
      return digestOf(body, current) !== current;
    },
    // A walk that could not finish counts as a use: the delete is refused rather than allowed blind.
    async blobProtected(selected) {
      blobWalk ??= new ProtectedBlobWalk(source, route.repository, route.reference);
      return (await blobWalk.uses(selected)) !== 'unused';
    },
    body: () => body,
    /** The blob walk stopped at its limits: a refusal says so rather than name a tag. */
    blobUndecided: () => blobWalk?.undecided ?? false,
  };
}
