/**
 * Which repositories the upstream holds a digest in: what keeps the cache from becoming a
 * cross-repository read. Content is stored once per digest (./content-store.ts), but a cached
 * digest is served through a repository only once the upstream said that repository has it —
 * its answer to a GET that filled the cache, or to one HEAD of the digest in that repository — and
 * that answer is kept here, as a marker file per repository and digest, so the upstream is asked
 * once. The files are shared by the workers of one machine; a delete through the gateway removes
 * the marker (`forget`), and a marker older than RECHECK_AFTER_MS is asked about again, so a delete
 * made at the upstream directly stops being served within that time.
 *
 *   dir/refs/<blobs|manifests>/<alg>/<hex>/<sha256 of the repository name>
 */
import { createHash } from 'node:crypto';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from '../../lib/errno.js';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../../lib/file-modes.js';
import type { Digest } from '../filesystem/digest.js';
import type { ContentKind } from './content-store.js';

/** How long the upstream's "this repository has it" is believed without asking again. */
export const RECHECK_AFTER_MS = 10 * 60_000;

export class RepositoryReferences {
  readonly #root: string;

  constructor(cacheDir: string) {
    this.#root = join(cacheDir, 'refs');
  }

  #folder(kind: ContentKind, digest: Digest): string {
    return join(this.#root, kind, digest.algorithm, digest.hex);
  }

  #file(kind: ContentKind, repository: string, digest: Digest): string {
    return join(this.#folder(kind, digest), createHash('sha256').update(repository).digest('hex'));
  }

  /** Whether the upstream said recently that `repository` has this digest. */
  async known(kind: ContentKind, repository: string, digest: Digest): Promise<boolean> {
    try {
      const info = await stat(this.#file(kind, repository, digest));
      return Date.now() - info.mtimeMs < RECHECK_AFTER_MS;
    } catch (error) {
      if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') return false;
      throw error;
    }
  }

  async remember(kind: ContentKind, repository: string, digest: Digest): Promise<void> {
    await mkdir(this.#folder(kind, digest), { recursive: true, mode: PRIVATE_DIR_MODE });
    await writeFile(this.#file(kind, repository, digest), '', { mode: PRIVATE_FILE_MODE });
  }

  async forget(kind: ContentKind, repository: string, digest: Digest): Promise<void> {
    await rm(this.#file(kind, repository, digest), { force: true });
  }
}
