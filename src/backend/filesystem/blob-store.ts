/**
 * Blobs: content-addressed files under `blobs/`, and the per-repository links that say which
 * repository holds which blob. Deduplication happens on disk only: a repository sees a blob only
 * through its own link, so nothing leaks across repositories.
 */
import { stat, unlink, readFile } from 'node:fs/promises';
import { errnoCode } from '../../lib/errno.js';
import type { Digest } from './digest.js';
import { moveIntoPlace, writeFileAtomic } from '../../lib/atomic-write.js';
import { isNotFound, removeDurable, touch } from './durable-fs.js';
import type { StorageLayout } from './layout.js';

export interface BlobInfo {
  readonly size: number;
  readonly path: string;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if (isNotFound(error) || errnoCode(error) === 'ENOTDIR') return false;
    throw error;
  }
}

export class BlobStore {
  constructor(private readonly layout: StorageLayout) {}

  /** The blob's file, if the registry holds it (in any repository). */
  async stat(digest: Digest): Promise<BlobInfo | undefined> {
    const path = this.layout.blob(digest);
    try {
      const info = await stat(path);
      return { size: info.size, path };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** The blob as `repository` may see it: linked there as a layer/config blob and present on disk. */
  async statInRepository(repository: string, digest: Digest, options: { includeManifests: boolean }): Promise<BlobInfo | undefined> {
    const linked =
      (await exists(this.layout.layerLink(repository, digest))) ||
      (options.includeManifests && (await exists(this.layout.manifestLink(repository, digest))));
    return linked ? this.stat(digest) : undefined;
  }

  /**
   * Puts a complete, verified, fsynced file in place as the blob `digest`. When the blob is already
   * there (the same bytes, by construction) the new copy is dropped and the old one marked as used.
   */
  async commitFile(file: string, digest: Digest): Promise<void> {
    const target = this.layout.blob(digest);
    if (await touch(target)) {
      await unlink(file).catch(() => undefined);
      return;
    }
    await moveIntoPlace(file, target);
    // The file keeps the time of its last chunk; make it fresh so `gc` gives the pushed blob the
    // whole grace period to be referenced by its manifest.
    await touch(target);
  }

  /** Stores small verified content (a manifest) as the blob `digest`. */
  async commitBytes(bytes: Uint8Array, digest: Digest): Promise<void> {
    const target = this.layout.blob(digest);
    if (await touch(target)) return;
    await writeFileAtomic(target, bytes, { tmpDir: this.layout.tmpDir });
  }

  async readBytes(digest: Digest): Promise<Buffer | undefined> {
    try {
      return await readFile(this.layout.blob(digest));
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Makes the blob visible in `repository`. Call only once the blob file is in place. */
  async link(repository: string, digest: Digest): Promise<void> {
    const path = this.layout.layerLink(repository, digest);
    if (await touch(path)) return;
    await writeFileAtomic(path, '', { tmpDir: this.layout.tmpDir });
  }

  /** Removes the blob from `repository` (the file stays for other repositories; `gc` reclaims it). */
  unlinkFromRepository(repository: string, digest: Digest): Promise<boolean> {
    return removeDurable(this.layout.layerLink(repository, digest));
  }

  /** Refreshes the mtime of a blob about to be referenced, so a concurrent `gc` leaves it alone. */
  async markUsed(digest: Digest): Promise<void> {
    await touch(this.layout.blob(digest));
  }
}
