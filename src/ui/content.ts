/**
 * What the UI shows of a registry's content, read through the backend's ContentReader and parsed
 * defensively: whatever a manifest or config holds, only well-formed fields are shown (and the
 * page escapes them). Sizes are what a pull transfers: the manifest, its config and its layers; an
 * index adds up its platforms' images (./page-reads.ts, within the page's limits).
 */
import { IMAGE_CONFIG_TYPES, IMAGE_MANIFEST_TYPES, INDEX_MANIFEST_TYPES } from '../oci/media-types.js';
import { isDigest } from '../oci/names.js';
import type { ManifestContent } from '../backend/backend.js';

export const MAX_CONFIG_BYTES = 1024 * 1024;
const CONCURRENCY = 8;

export interface DescriptorView {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly artifactType?: string | undefined;
  readonly annotations: Record<string, string>;
  /** `os/architecture[/variant]` of an index entry. */
  readonly platform?: string | undefined;
}

export interface ManifestView {
  readonly digest: string;
  readonly mediaType: string;
  readonly kind: 'image' | 'index' | 'other';
  readonly artifactType?: string | undefined;
  readonly bytes: number;
  readonly config?: DescriptorView | undefined;
  readonly layers: readonly DescriptorView[];
  readonly manifests: readonly DescriptorView[];
  readonly subject?: DescriptorView | undefined;
  readonly annotations: Record<string, string>;
  readonly pushedAt?: Date | undefined;
}

export interface ConfigView {
  readonly created?: string | undefined;
  readonly platform?: string | undefined;
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
  readonly workingDir?: string | undefined;
  readonly user?: string | undefined;
  readonly exposedPorts: readonly string[];
  readonly labels: Record<string, string>;
  readonly history: ReadonlyArray<{
    readonly created?: string | undefined;
    readonly createdBy?: string | undefined;
    readonly emptyLayer: boolean;
  }>;
}

export interface TagRow {
  readonly tag: string;
  readonly digest?: string | undefined;
  readonly kind?: ManifestView['kind'];
  readonly artifactType?: string | undefined;
  readonly size?: number | undefined;
  readonly when?: Date | undefined;
  /** `pushed`: the storage's time of the tag's last write; `created`: the image's own date. */
  readonly whenSource?: 'pushed' | 'created' | undefined;
  readonly platforms: readonly string[];
}

type Json = Record<string, unknown>;

function object(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.length <= 4096 ? value : undefined;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.map(text).filter((item): item is string => item !== undefined) : [];
}

function stringMap(value: unknown): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [key, entry] of Object.entries(object(value) ?? {})) {
    const string = text(entry);
    if (string !== undefined) result[key] = string;
  }
  return result;
}

function platformOf(value: unknown): string | undefined {
  const platform = object(value);
  const os = text(platform?.os);
  const architecture = text(platform?.architecture);
  if (!os || !architecture) return undefined;
  const variant = text(platform?.variant);
  return variant ? `${os}/${architecture}/${variant}` : `${os}/${architecture}`;
}

export function descriptor(value: unknown): DescriptorView | undefined {
  const entry = object(value);
  const digest = text(entry?.digest);
  const size = entry?.size;
  if (!entry || !digest || !isDigest(digest) || typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return undefined;
  return {
    mediaType: text(entry.mediaType) ?? '',
    digest,
    size,
    artifactType: text(entry.artifactType),
    annotations: stringMap(entry.annotations),
    platform: platformOf(entry.platform),
  };
}

function descriptors(value: unknown): DescriptorView[] {
  return Array.isArray(value) ? value.map(descriptor).filter((entry): entry is DescriptorView => entry !== undefined) : [];
}

function parseJson(bytes: Buffer): Json | undefined {
  try {
    return object(JSON.parse(bytes.toString('utf8')));
  } catch {
    return undefined;
  }
}

export function manifestView(content: ManifestContent): ManifestView {
  const json = parseJson(content.bytes) ?? {};
  const mediaType = content.mediaType || text(json.mediaType) || '';
  const kind = IMAGE_MANIFEST_TYPES.has(mediaType) ? 'image' : INDEX_MANIFEST_TYPES.has(mediaType) ? 'index' : 'other';
  const config = descriptor(json.config);
  return {
    digest: content.digest,
    mediaType,
    kind,
    artifactType: text(json.artifactType) ?? (config && !IMAGE_CONFIG_TYPES.has(config.mediaType) ? config.mediaType : undefined),
    bytes: content.bytes.length,
    config,
    layers: descriptors(json.layers),
    manifests: descriptors(json.manifests),
    subject: descriptor(json.subject),
    annotations: stringMap(json.annotations),
    pushedAt: content.pushedAt,
  };
}

/** The config to read for an image: one of an image config type, small enough. */
export function readableConfig(view: ManifestView): DescriptorView | undefined {
  return view.config && IMAGE_CONFIG_TYPES.has(view.config.mediaType) && view.config.size <= MAX_CONFIG_BYTES ? view.config : undefined;
}

/** An image config's bytes, as far as they are well-formed. */
export function configView(bytes: Buffer): ConfigView | undefined {
  const json = parseJson(bytes);
  if (!json) return undefined;
  const inner = object(json.config) ?? {};
  const history = Array.isArray(json.history) ? json.history.map(object).filter((entry): entry is Json => entry !== undefined) : [];
  return {
    created: text(json.created),
    platform: platformOf(json),
    entrypoint: strings(inner.Entrypoint),
    cmd: strings(inner.Cmd),
    workingDir: text(inner.WorkingDir) || undefined,
    user: text(inner.User) || undefined,
    exposedPorts: Object.keys(object(inner.ExposedPorts) ?? {}),
    labels: stringMap(inner.Labels),
    history: history.map((entry) => ({
      created: text(entry.created),
      createdBy: text(entry.created_by),
      emptyLayer: entry.empty_layer === true,
    })),
  };
}

/** Runs `work` over `items`, at most CONCURRENCY at a time, keeping order. */
export async function mapLimited<T, R>(items: readonly T[], work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
  return results;
}

/** What pulling an image transfers: manifest, config and layers. */
export function imageSize(view: ManifestView): number {
  return view.bytes + (view.config?.size ?? 0) + view.layers.reduce((sum, layer) => sum + layer.size, 0);
}
