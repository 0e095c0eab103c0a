/**
 * Which repositories the upstream holds a digest in: what keeps the cache from becoming a
 * cross-repository read. Content is stored once per digest (./content-store.ts), but a cached
 * digest is served through a repository only once the upstream said that repository has it —
 * its answer to a GET that filled the cache, or to one HEAD of the digest in that repository — and
 * that answer is kept here, as a marker file per repository and digest, so the upstream is asked
 * once. The files are shared by the workers of one machine; a marker older than RECHECK_AFTER_MS
 * is asked about again, so a delete made at the upstream directly stops being served within that
 * time.
 *
 * A delete through the gateway (`forget`) removes the marker and leaves a tombstone stamped with
 * the time of the delete. A marker is stamped with the time its question was *asked*, not
 * answered, and is believed only when asked after the last delete: an answer that was on its way
 * while the delete ran (asked before, arriving after) never outlives the delete.
 *
 *   dir/refs/<blobs|manifests>/<alg>/<hex>/<sha256 of the repository name>[.deleted]
 */
import { createHash } from 'node:crypto';
import { mkdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from '../../lib/errno.js';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../../lib/file-modes.js';
import type { Digest } from '../filesystem/digest.js';
import type { ContentKind } from './content-store.js';

/** How long the upstream's "this repository has it" is believed without asking again. */
export const RECHECK_AFTER_MS = 10 * 60_000;
const TOMBSTONE = '.deleted';

/** What the cache knows of a repository and a digest: said recently, said once (but long ago), or never said. */
export type ReferenceState = 'fresh' | 'stale' | 'unknown';

/**
 * The marker's file name of a repository (the name hashed: any length, no path characters); shared
 * with ./offline.ts. `scope`: the registry's ('' for the upstream, a mirror's own for a mirror).
 */
export function markerName(repository: string, scope = ''): string {
  return createHash('sha256')
    .update(scope === '' ? repository : `${scope}\n${repository}`)
    .digest('hex');
}

/** Whether a file in a digest's refs folder is a delete's tombstone rather than a marker. */
export function isTombstone(name: string): boolean {
  return name.endsWith(TOMBSTONE);
}

export class RepositoryReferences {
  readonly #root: string;
  readonly #scope: string;

  /**
   * `scope` names the registry the answers come from ('' for the upstream): a mirror's answers
   * about its `library/nginx` say nothing about another mirror's, nor the upstream's, of that name.
   */
  constructor(cacheDir: string, scope = '') {
    this.#root = join(cacheDir, 'refs');
    this.#scope = scope;
  }

  #folder(kind: ContentKind, digest: Digest): string {
    return join(this.#root, kind, digest.algorithm, digest.hex);
  }

  #file(kind: ContentKind, repository: string, digest: Digest): string {
    return join(this.#folder(kind, digest), markerName(repository, this.#scope));
  }

  /** Whether the upstream said recently, and since the last delete through the gateway, that `repository` has this digest. */
  async known(kind: ContentKind, repository: string, digest: Digest): Promise<boolean> {
    return (await this.state(kind, repository, digest)) === 'fresh';
  }

  /**
   * 'fresh': the upstream said so within RECHECK_AFTER_MS; 'stale': it said so before that, and
   * nothing was deleted through the gateway since (what may be served while the upstream is
   * failing); 'unknown': it never said so, or a delete came after.
   */
  async state(kind: ContentKind, repository: string, digest: Digest): Promise<ReferenceState> {
    const file = this.#file(kind, repository, digest);
    const askedAt = await modifiedAt(file);
    if (askedAt === undefined) return 'unknown';
    const deletedAt = await modifiedAt(`${file}${TOMBSTONE}`);
    if (deletedAt !== undefined && askedAt <= deletedAt) return 'unknown';
    return Date.now() - askedAt < RECHECK_AFTER_MS ? 'fresh' : 'stale';
  }

  /** The upstream said `repository` has the digest, in answer to a question sent at `askedAt` (Date.now()). */
  async remember(kind: ContentKind, repository: string, digest: Digest, askedAt: number): Promise<void> {
    const file = this.#file(kind, repository, digest);
    await mkdir(this.#folder(kind, digest), { recursive: true, mode: PRIVATE_DIR_MODE });
    await writeFile(file, '', { mode: PRIVATE_FILE_MODE });
    await utimes(file, askedAt / 1000, askedAt / 1000);
  }

  /** A delete through the gateway: no answer asked for until now is believed any more. */
  async forget(kind: ContentKind, repository: string, digest: Digest): Promise<void> {
    const file = this.#file(kind, repository, digest);
    const deletedAt = Date.now() / 1000; // the same clock as the markers' (the file system's may lag it)
    await mkdir(this.#folder(kind, digest), { recursive: true, mode: PRIVATE_DIR_MODE });
    await writeFile(`${file}${TOMBSTONE}`, '', { mode: PRIVATE_FILE_MODE });
    await utimes(`${file}${TOMBSTONE}`, deletedAt, deletedAt);
    await rm(file, { force: true });
  }
}

/** A file's modification time in ms, or undefined when there is none. */
async function modifiedAt(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).mtimeMs;
  } catch (error) {
    if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') return undefined;
    throw error;
  }
}
