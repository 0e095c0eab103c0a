/**
 * What a pushed manifest must be before it is stored: well-formed JSON, schemaVersion 2, one of the
 * four manifest types (OCI image manifest and index, Docker schema2 manifest and manifest list),
 * a `mediaType` field (when present) equal to the Content-Type it was pushed with, and well-formed
 * descriptors. Whether the referenced content exists is checked by the caller, against the
 * repository, with the references this returns.
 */
import { RegistryError } from '../../oci/errors.js';
import { DOCKER_MANIFEST, IMAGE_MANIFEST_TYPES, MANIFEST_MEDIA_TYPES, OCI_INDEX, OCI_MANIFEST } from '../../oci/media-types.js';
import { tryParseDigest, type Digest } from './digest.js';

/** Layers a client downloads from their `urls`, never from the registry: they need not be pushed. */
const NON_DISTRIBUTABLE_LAYERS = new Set([
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
]);

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly artifactType?: string;
  readonly annotations?: Record<string, string>;
  readonly urls?: string[];
}

export interface ParsedManifest {
  /** The type it is stored and served as. */
  readonly mediaType: string;
  readonly kind: 'image' | 'index';
  readonly config: Descriptor | undefined;
  readonly layers: readonly Descriptor[];
  /** Index entries. */
  readonly manifests: readonly Descriptor[];
  readonly subject: Descriptor | undefined;
  readonly artifactType: string | undefined;
  readonly annotations: Record<string, string> | undefined;
}

function invalid(message: string, detail?: unknown): RegistryError {
  return new RegistryError('MANIFEST_INVALID', message, detail === undefined ? {} : { detail });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `type/subtype` without parameters, lower-cased; undefined when absent. */
export function bareMediaType(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  const bare = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  return bare === '' ? undefined : bare;
}

function stringMap(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw invalid(`${where} must be an object of strings`);
  }
  return value as Record<string, string>;
}

function optionalString(value: unknown, where: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalid(`${where} must be a string`);
  return value;
}

export function parseDescriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw invalid(`${where} must be a descriptor object`);
  const { mediaType, digest, size } = value;
  if (typeof mediaType !== 'string' || mediaType === '') throw invalid(`${where}.mediaType must be a non-empty string`);
  if (typeof digest !== 'string') throw invalid(`${where}.digest must be a string`);
  const parsed = tryParseDigest(digest);
  if (!parsed) throw invalid(`${where}.digest is not a valid sha256 or sha512 digest`, { digest });
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalid(`${where}.size must be a non-negative integer`);
  const urls = value.urls;
  if (urls !== undefined && !(Array.isArray(urls) && urls.every((u) => typeof u === 'string')))
    throw invalid(`${where}.urls must be an array of strings`);
  const artifactType = optionalString(value.artifactType, `${where}.artifactType`);
  const annotations = stringMap(value.annotations, `${where}.annotations`);
  return {
    mediaType,
    digest: parsed,
    size,
    ...(artifactType !== undefined ? { artifactType } : {}),
    ...(annotations !== undefined ? { annotations } : {}),
    ...(urls !== undefined ? { urls } : {}),
  };
}

function descriptorList(value: unknown, where: string, required: boolean): Descriptor[] {
  if (value === undefined && !required) return [];
  if (!Array.isArray(value)) throw invalid(`${where} must be an array of descriptors`);
  return value.map((entry, index) => parseDescriptor(entry, `${where}[${index}]`));
}

function declaredType(body: Record<string, unknown>, contentType: string | undefined): string {
  const field = body.mediaType;
  if (field !== undefined && typeof field !== 'string') throw invalid('mediaType must be a string');
  if (field !== undefined && contentType !== undefined && field !== contentType) {
    throw invalid('the manifest mediaType does not match the Content-Type it was pushed with', { mediaType: field, contentType });
  }
  const type = field ?? contentType;
  if (type !== undefined) return type;
  // Neither says: an OCI manifest may omit mediaType (it is only a SHOULD).
  return Array.isArray(body.manifests) ? OCI_INDEX : OCI_MANIFEST;
}

/** Validates a manifest's bytes; throws MANIFEST_INVALID (400) with the reason. */
export function parseManifest(bytes: Buffer, contentType: string | undefined): ParsedManifest {
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid('manifest is not valid JSON');
  }
  if (!isObject(body)) throw invalid('manifest must be a JSON object');
  if (body.schemaVersion !== 2)
    throw invalid('unsupported schemaVersion (only 2 is supported)', { schemaVersion: body.schemaVersion ?? null });
  const mediaType = declaredType(body, bareMediaType(contentType));
  if (!MANIFEST_MEDIA_TYPES.has(mediaType))
    throw invalid('unsupported manifest media type', { mediaType, supported: [...MANIFEST_MEDIA_TYPES] });
  const isOci = mediaType === OCI_MANIFEST || mediaType === OCI_INDEX;
  const subject = isOci && body.subject !== undefined ? parseDescriptor(body.subject, 'subject') : undefined;
  const artifactType = isOci ? optionalString(body.artifactType, 'artifactType') : undefined;
  const annotations = stringMap(body.annotations, 'annotations');

  if (IMAGE_MANIFEST_TYPES.has(mediaType)) {
    if (body.manifests !== undefined) throw invalid('an image manifest must not have a manifests field');
    return {
      mediaType,
      kind: 'image',
      config: parseDescriptor(body.config, 'config'),
      layers: descriptorList(body.layers, 'layers', mediaType === DOCKER_MANIFEST),
      manifests: [],
      subject,
      artifactType,
      annotations,
    };
  }
  if (body.config !== undefined || body.layers !== undefined) throw invalid('an index must not have config or layers fields');
  return {
    mediaType,
    kind: 'index',
    config: undefined,
    layers: [],
    manifests: descriptorList(body.manifests, 'manifests', true),
    subject,
    artifactType,
    annotations,
  };
}

/** Blobs that must already be in the repository for this manifest to be accepted. */
export function requiredBlobs(manifest: ParsedManifest): Descriptor[] {
  const layers = manifest.layers.filter((layer) => !(NON_DISTRIBUTABLE_LAYERS.has(layer.mediaType) && (layer.urls?.length ?? 0) > 0));
  return manifest.config ? [manifest.config, ...layers] : layers;
}

/** Every blob digest the manifest references, for the garbage collector (includes foreign layers if present). */
export function referencedBlobs(manifest: ParsedManifest): Digest[] {
  return [...(manifest.config ? [manifest.config.digest] : []), ...manifest.layers.map((layer) => layer.digest)];
}

/**
 * The descriptor the referrers API lists for this manifest: its own artifactType, else (for an
 * image manifest) the config's media type; all of its annotations.
 */
export function referrerDescriptor(manifest: ParsedManifest, digest: Digest, size: number): Record<string, unknown> {
  const artifactType = manifest.artifactType ?? (manifest.kind === 'image' ? manifest.config?.mediaType : undefined);
  return {
    mediaType: manifest.mediaType,
    digest: digest.value,
    size,
    ...(artifactType !== undefined && artifactType !== '' ? { artifactType } : {}),
    ...(manifest.annotations !== undefined ? { annotations: manifest.annotations } : {}),
  };
}
