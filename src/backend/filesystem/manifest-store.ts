/**
 * Manifests, tags and referrers of one repository. A manifest's bytes are a blob (stored exactly
 * as pushed); the repository holds it through `_manifests/<alg>/<hex>` (which records the media
 * type), names it through `_tags/<tag>`, and lists it as a referrer of its subject through
 * `_referrers/<subject>/<digest>.json`. Writes go bytes → link → referrer entry → tag, each
 * atomic, so a crash leaves at worst an unreferenced manifest, never a tag pointing at nothing.
 */
import { stat } from 'node:fs/promises';
import { createFileAtomic, writeFileAtomic } from '../../lib/atomic-write.js';
import { RegistryError } from '../../oci/errors.js';
import type { BlobStore } from './blob-store.js';
import { tryParseDigest, type Digest } from './digest.js';
import { listDirectory, readTextIfExists, removeDurable, touch } from './durable-fs.js';
import { referrerOfEntry, REPOSITORY_MARKERS, type StorageLayout } from './layout.js';
import { parseManifest, referrerDescriptor, requiredBlobs, type Descriptor, type ParsedManifest } from './manifest-validation.js';
import { MAX_PAGE_SIZE, type PageRequest } from '../../oci/paging.js';
import { compareNames, firstIndexAfter, type Page } from './paging.js';
import { isDigest } from '../../oci/names.js';
import { MAX_REFERRERS_PER_PAGE } from '../../lib/work-budget.js';

export interface ManifestRecord {
  readonly digest: Digest;
  readonly mediaType: string;
}

export interface StoredManifest extends ManifestRecord {
  readonly bytes: Buffer;
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Descriptors with one entry per digest and size, in their first order. */
function distinct(descriptors: readonly Descriptor[]): Descriptor[] {
  return [...new Map(descriptors.map((descriptor) => [`${descriptor.digest.value} ${descriptor.size}`, descriptor])).values()];
}

export class ManifestStore {
  constructor(
    private readonly layout: StorageLayout,
    private readonly blobs: BlobStore,
  ) {}

  async repositoryExists(repository: string): Promise<boolean> {
    for (const marker of REPOSITORY_MARKERS) {
      const info = await stat(`${this.layout.repository(repository)}/${marker}`).catch(() => undefined);
      if (info?.isDirectory()) return true;
    }
    return false;
  }

  /** The manifest a digest names in this repository, if the repository holds it. */
  async record(repository: string, digest: Digest): Promise<ManifestRecord | undefined> {
    const mediaType = await readTextIfExists(this.layout.manifestLink(repository, digest));
    return mediaType === undefined ? undefined : { digest, mediaType };
  }

  /** A tag or digest reference, resolved; undefined for an unknown tag or a tag whose manifest is gone. */
  async resolve(repository: string, reference: string): Promise<ManifestRecord | undefined> {
    if (isDigest(reference)) {
      const digest = tryParseDigest(reference);
      return digest ? this.record(repository, digest) : undefined;
    }
    const target = await readTextIfExists(this.layout.tag(repository, reference));
    const digest = target === undefined ? undefined : tryParseDigest(target.trim());
    return digest ? this.record(repository, digest) : undefined;
  }

  async get(repository: string, reference: string): Promise<StoredManifest | undefined> {
    const record = await this.resolve(repository, reference);
    if (!record) return undefined;
    const bytes = await this.blobs.readBytes(record.digest);
    return bytes ? { ...record, bytes } : undefined;
  }

  /**
   * Every blob (config, layers) and child manifest (index entries) must already be in this
   * repository with the size the descriptor says. Each is marked as used first, so that a `gc`
   * running now sees it as fresh and keeps it. A descriptor repeated (the same digest and size,
   * listed a thousand times) is checked once: the work follows the distinct content named.
   */
  async checkReferences(repository: string, manifest: ParsedManifest): Promise<void> {
    const missing: string[] = [];
    const check = (descriptor: Descriptor, actualSize: number | undefined): void => {
      if (actualSize === undefined) missing.push(descriptor.digest.value);
      else if (actualSize !== descriptor.size) {
        throw new RegistryError('MANIFEST_INVALID', 'a descriptor size does not match the content', {
          detail: { digest: descriptor.digest.value, size: descriptor.size, actual: actualSize },
        });
      }
    };
    for (const blob of distinct(requiredBlobs(manifest))) {
      await this.blobs.markUsed(blob.digest);
      const info = await this.blobs.statInRepository(repository, blob.digest, { includeManifests: false });
      check(blob, info?.size);
    }
    for (const child of distinct(manifest.manifests)) {
      await this.blobs.markUsed(child.digest);
      await touch(this.layout.manifestLink(repository, child.digest));
      const linked = await this.record(repository, child.digest);
      check(child, linked ? (await this.blobs.stat(child.digest))?.size : undefined);
    }
    if (missing.length > 0) {
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', undefined, { detail: { missing } });
    }
  }

  /**
   * Stores a validated manifest (whose references were checked) and points `tag` at it. With
   * `tagMustNotMove`, the tag is only created, or left as it is when it names this manifest already:
   * a tag naming another manifest makes it throw DENIED (the manifest stays stored, untagged).
   */
  async put(
    repository: string,
    manifest: ParsedManifest,
    bytes: Buffer,
    digest: Digest,
    tag: string | undefined,
    tagMustNotMove = false,
  ): Promise<void> {
    await this.blobs.commitBytes(bytes, digest);
    await writeFileAtomic(this.layout.manifestLink(repository, digest), manifest.mediaType, { tmpDir: this.layout.tmpDir });
    if (manifest.subject) {
      const entry = JSON.stringify(referrerDescriptor(manifest, digest, bytes.length));
      await writeFileAtomic(this.layout.referrerEntry(repository, manifest.subject.digest, digest), entry, { tmpDir: this.layout.tmpDir });
    }
    if (tag === undefined) return;
    const tagFile = this.layout.tag(repository, tag);
    if (!tagMustNotMove) return writeFileAtomic(tagFile, digest.value, { tmpDir: this.layout.tmpDir });
    if (await createFileAtomic(tagFile, digest.value, { tmpDir: this.layout.tmpDir })) return;
    const current = await this.resolve(repository, tag);
    if (current && current.digest.value !== digest.value) {
      throw new RegistryError('DENIED', `the tag ${tag} is protected and already names another manifest`);
    }
    // The tag names this manifest already, or a manifest that is gone: (re)point it.
    if (!current) await writeFileAtomic(tagFile, digest.value, { tmpDir: this.layout.tmpDir });
  }

  /** Removes the tag only; false when there was no such tag. */
  deleteTag(repository: string, tag: string): Promise<boolean> {
    return removeDurable(this.layout.tag(repository, tag));
  }

  /** Removes the manifest from the repository with every tag pointing at it and its referrer entry. */
  async deleteManifest(repository: string, digest: Digest): Promise<boolean> {
    const record = await this.record(repository, digest);
    if (!record) return false;
    for (const tag of (await listDirectory(this.layout.tagsDir(repository))) ?? []) {
      const target = await readTextIfExists(this.layout.tag(repository, tag));
      if (target?.trim() === digest.value) await removeDurable(this.layout.tag(repository, tag));
    }
    const subject = await this.subjectOf(record);
    if (subject) await removeDurable(this.layout.referrerEntry(repository, subject, digest));
    return removeDurable(this.layout.manifestLink(repository, digest));
  }

  /** The subject of a stored manifest, if it has one (and still parses). */
  async subjectOf(record: ManifestRecord): Promise<Digest | undefined> {
    const bytes = await this.blobs.readBytes(record.digest);
    if (!bytes) return undefined;
    try {
      return parseManifest(bytes, record.mediaType).subject?.digest;
    } catch {
      return undefined;
    }
  }

  /** One page of the repository's tags (only tags whose manifest exists); undefined for an unknown repository. */
  async tagsPage(repository: string, request: PageRequest): Promise<Page | undefined> {
    const size = request.n ?? MAX_PAGE_SIZE;
    const names = await listDirectory(this.layout.tagsDir(repository));
    if (names === undefined) return (await this.repositoryExists(repository)) ? { items: [], next: undefined, size } : undefined;
    if (size === 0) return { items: [], next: undefined, size };
    names.sort(compareNames);
    const items: string[] = [];
    let more = false;
    for (let index = firstIndexAfter(names, request.last); index < names.length; index += 1) {
      const tag = names[index] as string;
      // A tag whose manifest is gone (deleted concurrently) is not listed: it would not resolve.
      if (!(await this.resolve(repository, tag))) continue;
      if (items.length === size) {
        more = true;
        break;
      }
      items.push(tag);
    }
    return { items, next: more ? items.at(-1) : undefined, size };
  }

  /**
   * Descriptors of the manifests in this repository whose subject is `subject`, in the order of
   * their digests after `last`: one page, for which at most MAX_REFERRERS_PER_PAGE entries are
   * looked at (however few of them match `artifactType`). `next`: the `last` of the next page.
   */
  async referrers(
    repository: string,
    subject: Digest,
    filter: { readonly artifactType?: string | undefined; readonly last?: string | undefined } = {},
  ): Promise<{ readonly descriptors: Record<string, unknown>[]; readonly next: string | undefined }> {
    const entries = ((await listDirectory(this.layout.referrersDir(repository, subject))) ?? []).sort(compareNames);
    const page = entries.slice(firstIndexAfter(entries, filter.last));
    const descriptors: Record<string, unknown>[] = [];
    for (const entry of page.slice(0, MAX_REFERRERS_PER_PAGE)) {
      const descriptor = await this.#referrer(repository, subject, entry);
      if (descriptor === undefined) continue;
      if (filter.artifactType !== undefined && descriptor.artifactType !== filter.artifactType) continue;
      descriptors.push(descriptor);
    }
    return { descriptors, next: page.length > MAX_REFERRERS_PER_PAGE ? page[MAX_REFERRERS_PER_PAGE - 1] : undefined };
  }

  /** The descriptor of one referrer entry (`<alg>-<hex>.json`), if its manifest is still here. */
  async #referrer(repository: string, subject: Digest, entry: string): Promise<Record<string, unknown> | undefined> {
    const digest = referrerOfEntry(entry);
    if (!digest || !(await this.record(repository, digest))) return undefined;
    const text = await readTextIfExists(this.layout.referrerEntry(repository, subject, digest));
    return text === undefined ? undefined : parseObject(text);
  }
}
