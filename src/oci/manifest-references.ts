/**
 * What a manifest points at, read leniently, for walks that must not miss a reference (is this
 * blob used by a protected tag?): whatever the manifest's type, every digest a client could fetch
 * because of it. Blobs: `config`, `layers`, an artifact manifest's `blobs`, a Docker schema 1
 * manifest's `fsLayers[].blobSum`. Children: `manifests` (an index's entries), manifests themselves.
 * A `subject` is not a reference: pulling a signature does not pull the image it signs.
 */

export interface ManifestReferences {
  readonly blobs: readonly string[];
  readonly children: readonly string[];
}

type Json = Record<string, unknown>;

function object(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function digestsOf(list: unknown, field = 'digest'): string[] {
  if (!Array.isArray(list)) return [];
  const digests: string[] = [];
  for (const entry of list) {
    const digest = object(entry)?.[field];
    if (typeof digest === 'string') digests.push(digest);
  }
  return digests;
}

/** The references of a manifest's bytes; undefined when they are not a JSON object (nothing can be said of them). */
export function manifestReferences(bytes: Buffer): ManifestReferences | undefined {
  let manifest: Json | undefined;
  try {
    manifest = object(JSON.parse(bytes.toString('utf8')));
  } catch {
    return undefined;
  }
  if (!manifest) return undefined;
  const config = object(manifest.config)?.digest;
  return {
    blobs: [
      ...(typeof config === 'string' ? [config] : []),
      ...digestsOf(manifest.layers),
      ...digestsOf(manifest.blobs),
      ...digestsOf(manifest.fsLayers, 'blobSum'),
    ],
    children: digestsOf(manifest.manifests),
  };
}
