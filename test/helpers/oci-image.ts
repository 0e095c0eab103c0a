/**
 * OCI image layouts written from scratch, for skopeo to push (`oci:DIR:TAG`), and read back after
 * skopeo pulled (`skopeo copy docker://… oci:OUT:TAG`).
 *
 *   layoutDir/
 *   ├── oci-layout            {"imageLayoutVersion":"1.0.0"}
 *   ├── index.json            one manifest descriptor per tag (org.opencontainers.image.ref.name)
 *   └── blobs/sha256/<hex>    manifest, config, layers
 *
 * Each layer is an uncompressed tar (application/vnd.oci.image.layer.v1.tar) holding one regular
 * file. Layers given as a size get random content, written in 1 MiB chunks while hashing, so a
 * 1 GiB layer never sits in memory.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { mkdir, open, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';
const REF_NAME = 'org.opencontainers.image.ref.name';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface MakeOciImageOptions {
  tag?: string;
  /** A number is a size in bytes of random content; a Buffer is the file's exact content. */
  layers: Array<number | Buffer>;
  /** Only 'oci' for now; convert to Docker schema 2 with `skopeo copy --format v2s2`. */
  mediaType?: 'oci';
  architecture?: string;
  os?: string;
  /** The image config's `config` (Entrypoint, Cmd, Labels, …); default {}. */
  config?: Record<string, unknown>;
}

export interface OciImage {
  layoutDir: string;
  tag: string;
  /** `oci:DIR:TAG`, a skopeo image reference. */
  ref: string;
  manifestDigest: string;
  manifestSize: number;
  configDigest: string;
  layerDigests: string[];
  /** Size of each layer blob (the tar), in bytes. */
  layerSizes: number[];
}

const CHUNK = 1024 * 1024;
const TAR_BLOCK = 512;

function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function blobPath(layoutDir: string, digest: string): string {
  const [algorithm, hex] = digest.split(':');
  return join(layoutDir, 'blobs', algorithm!, hex!);
}

/** A ustar header for one regular file (size up to 8 GiB - 1, the 11 octal digits of ustar). */
function tarHeader(name: string, size: number): Buffer {
  const header = Buffer.alloc(TAR_BLOCK, 0);
  const field = (offset: number, length: number, value: string): void => {
    header.write(value, offset, length, 'ascii');
  };
  const octal = (offset: number, length: number, value: number): void => {
    field(offset, length - 1, value.toString(8).padStart(length - 1, '0'));
  };
  field(0, 100, name);
  octal(100, 8, 0o644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, size);
  octal(136, 12, 0);
  field(148, 8, '        ');
  field(156, 1, '0');
  field(257, 6, 'ustar\0');
  field(263, 2, '00');
  field(265, 32, 'root');
  field(297, 32, 'root');
  let sum = 0;
  for (const byte of header) sum += byte;
  field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return header;
}

/** Write a one-file tar layer into the blob store; returns its descriptor. */
async function writeTarLayer(layoutDir: string, index: number, content: number | Buffer): Promise<Descriptor> {
  const size = typeof content === 'number' ? content : content.length;
  if (!Number.isSafeInteger(size) || size < 0 || size >= 8 * 1024 ** 3) {
    throw new Error(`makeOciImage: layer ${index} size ${size} out of range`);
  }
  const tmp = join(layoutDir, 'blobs', 'sha256', `.tmp-layer-${index}-${process.pid}`);
  const hash = createHash('sha256');
  const file = await open(tmp, 'w');
  let written = 0;
  const write = async (chunk: Buffer): Promise<void> => {
    hash.update(chunk);
    written += chunk.length;
    await file.write(chunk);
  };
  try {
    await write(tarHeader(`layer-${index}.bin`, size));
    if (typeof content === 'number') {
      const chunk = Buffer.allocUnsafe(Math.min(CHUNK, size));
      for (let left = size; left > 0; left -= chunk.length) {
        const part = left >= chunk.length ? chunk : chunk.subarray(0, left);
        randomFillSync(part);
        await write(part);
        if (part !== chunk) break;
      }
    } else {
      await write(content);
    }
    const padding = (TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK;
    // Padding of the file's last block, then the two zero blocks that end an archive.
    await write(Buffer.alloc(padding + 2 * TAR_BLOCK, 0));
  } finally {
    await file.close();
  }
  const digest = `sha256:${hash.digest('hex')}`;
  await rename(tmp, blobPath(layoutDir, digest));
  return { mediaType: OCI_LAYER_TAR, digest, size: written };
}

async function writeBlob(layoutDir: string, mediaType: string, data: string): Promise<Descriptor> {
  const digest = sha256(data);
  await writeFile(blobPath(layoutDir, digest), data);
  return { mediaType, digest, size: Buffer.byteLength(data) };
}

interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}

async function readIndex(layoutDir: string): Promise<ImageIndex | undefined> {
  try {
    return JSON.parse(await readFile(join(layoutDir, 'index.json'), 'utf8')) as ImageIndex;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Write (or add a tag to) an OCI image layout. Config and manifest are deterministic; layers given
 * as Buffers make the whole image deterministic, layers given as sizes make it unique.
 */
export async function makeOciImage(layoutDir: string, options: MakeOciImageOptions): Promise<OciImage> {
  const tag = options.tag ?? 'latest';
  await mkdir(join(layoutDir, 'blobs', 'sha256'), { recursive: true });

  const layers: Descriptor[] = [];
  for (const [i, layer] of options.layers.entries()) layers.push(await writeTarLayer(layoutDir, i, layer));

  const config = await writeBlob(
    layoutDir,
    OCI_CONFIG,
    JSON.stringify({
      created: '1970-01-01T00:00:00Z',
      architecture: options.architecture ?? 'amd64',
      os: options.os ?? 'linux',
      config: options.config ?? {},
      // Uncompressed layers: each diff_id is the layer digest itself.
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
      history: layers.map((_, i) => ({ created: '1970-01-01T00:00:00Z', created_by: `registry-gate test layer ${i}` })),
    }),
  );
  const manifest = await writeBlob(layoutDir, OCI_MANIFEST, JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers }));

  const index: ImageIndex = (await readIndex(layoutDir)) ?? { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
  index.manifests = index.manifests.filter((d) => d.annotations?.[REF_NAME] !== tag);
  index.manifests.push({ ...manifest, annotations: { [REF_NAME]: tag } });
  await writeFile(join(layoutDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(layoutDir, 'index.json.tmp'), JSON.stringify(index));
  await rename(join(layoutDir, 'index.json.tmp'), join(layoutDir, 'index.json'));

  return {
    layoutDir,
    tag,
    ref: `oci:${layoutDir}:${tag}`,
    manifestDigest: manifest.digest,
    manifestSize: manifest.size,
    configDigest: config.digest,
    layerDigests: layers.map((l) => l.digest),
    layerSizes: layers.map((l) => l.size),
  };
}

export interface OciLayoutDigests {
  manifestDigest: string;
  manifestMediaType: string;
  configDigest: string;
  configMediaType: string;
  layerDigests: string[];
  layerMediaTypes: string[];
}

/**
 * The digests of the image tagged `tag` in a layout (or of its only image when `tag` is omitted).
 * Checks that every referenced blob exists with the declared size; does not re-hash them.
 */
export async function readOciLayoutDigests(layoutDir: string, tag?: string): Promise<OciLayoutDigests> {
  const index = await readIndex(layoutDir);
  if (!index) throw new Error(`readOciLayoutDigests: no index.json in ${layoutDir}`);
  const candidates = tag === undefined ? index.manifests : index.manifests.filter((d) => d.annotations?.[REF_NAME] === tag);
  if (candidates.length !== 1) {
    throw new Error(`readOciLayoutDigests: ${candidates.length} manifests match tag ${tag ?? '(any)'} in ${layoutDir}`);
  }
  const descriptor = candidates[0]!;
  const manifestBytes = await readFile(blobPath(layoutDir, descriptor.digest));
  if (sha256(manifestBytes) !== descriptor.digest) throw new Error(`readOciLayoutDigests: manifest digest mismatch`);
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as {
    mediaType?: string;
    config?: Descriptor;
    layers?: Descriptor[];
  };
  if (!manifest.config || !manifest.layers) {
    throw new Error(`readOciLayoutDigests: ${descriptor.digest} is not an image manifest (${descriptor.mediaType})`);
  }
  for (const blob of [manifest.config, ...manifest.layers]) {
    const { size } = await stat(blobPath(layoutDir, blob.digest));
    if (size !== blob.size) throw new Error(`readOciLayoutDigests: blob ${blob.digest} is ${size} bytes, expected ${blob.size}`);
  }
  return {
    manifestDigest: descriptor.digest,
    manifestMediaType: manifest.mediaType ?? descriptor.mediaType,
    configDigest: manifest.config.digest,
    configMediaType: manifest.config.mediaType,
    layerDigests: manifest.layers.map((l) => l.digest),
    layerMediaTypes: manifest.layers.map((l) => l.mediaType),
  };
}

export interface OciIndex {
  layoutDir: string;
  tag: string;
  /** `oci:DIR:TAG`; copy it with `all: true`. */
  ref: string;
  indexDigest: string;
  /** One image per platform, in the order given. */
  images: Array<OciImage & { platform: string }>;
}

async function tagInLayout(layoutDir: string, descriptor: Descriptor, tag: string): Promise<void> {
  const index: ImageIndex = (await readIndex(layoutDir)) ?? { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
  index.manifests = index.manifests.filter((d) => d.annotations?.[REF_NAME] !== tag);
  index.manifests.push({ ...descriptor, annotations: { ...(descriptor.annotations ?? {}), [REF_NAME]: tag } });
  await writeFile(join(layoutDir, 'index.json.tmp'), JSON.stringify(index));
  await rename(join(layoutDir, 'index.json.tmp'), join(layoutDir, 'index.json'));
}

/** An OCI image index with one image per platform (`os/architecture`), tagged `tag` in the layout. */
export async function makeOciIndex(
  layoutDir: string,
  options: { tag: string; platforms: Array<{ os: string; architecture: string; layers: Array<number | Buffer> }> },
): Promise<OciIndex> {
  const images: OciIndex['images'] = [];
  const entries: Array<Descriptor & { platform: { os: string; architecture: string } }> = [];
  for (const platform of options.platforms) {
    const image = await makeOciImage(layoutDir, {
      tag: `${options.tag}-${platform.os}-${platform.architecture}`,
      layers: platform.layers,
      os: platform.os,
      architecture: platform.architecture,
    });
    images.push({ ...image, platform: `${platform.os}/${platform.architecture}` });
    entries.push({
      mediaType: OCI_MANIFEST,
      digest: image.manifestDigest,
      size: image.manifestSize,
      platform: { os: platform.os, architecture: platform.architecture },
    });
  }
  const index = await writeBlob(layoutDir, OCI_INDEX, JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries }));
  await tagInLayout(layoutDir, index, options.tag);
  return { layoutDir, tag: options.tag, ref: `oci:${layoutDir}:${options.tag}`, indexDigest: index.digest, images };
}

export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';

export interface OciArtifact {
  ref: string;
  digest: string;
  descriptor: Descriptor & { artifactType: string };
}

/**
 * An OCI artifact (an SBOM, a signature) about `subject`: an image manifest with `artifactType`,
 * the empty config and one blob, tagged `tag` in the layout.
 */
export async function makeOciArtifact(
  layoutDir: string,
  options: {
    tag: string;
    artifactType: string;
    blobMediaType: string;
    content: string;
    subject: Descriptor;
    annotations?: Record<string, string>;
  },
): Promise<OciArtifact> {
  await mkdir(join(layoutDir, 'blobs', 'sha256'), { recursive: true });
  const config = await writeBlob(layoutDir, OCI_EMPTY, '{}');
  const blob = await writeBlob(layoutDir, options.blobMediaType, options.content);
  const manifest = await writeBlob(
    layoutDir,
    OCI_MANIFEST,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: options.artifactType,
      config,
      layers: [blob],
      subject: { mediaType: options.subject.mediaType, digest: options.subject.digest, size: options.subject.size },
      ...(options.annotations ? { annotations: options.annotations } : {}),
    }),
  );
  await tagInLayout(layoutDir, manifest, options.tag);
  const descriptor = {
    ...manifest,
    artifactType: options.artifactType,
    ...(options.annotations ? { annotations: options.annotations } : {}),
  };
  return { ref: `oci:${layoutDir}:${options.tag}`, digest: manifest.digest, descriptor };
}

/**
 * The referrers tag of the OCI distribution spec's fallback (`sha256-<hex>` of the subject, an
 * index of its referrers), which clients such as oras maintain on registries without the
 * referrers API (Distribution 2.8): the manifest bytes to PUT under `tag`.
 */
export function referrersTagIndex(subjectDigest: string, referrers: Descriptor[]): { tag: string; bytes: Buffer } {
  return {
    tag: subjectDigest.replace(':', '-'),
    bytes: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: referrers })),
  };
}
