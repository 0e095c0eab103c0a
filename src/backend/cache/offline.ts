/**
 * The content cache seen from outside the server: what `registry-gate cache` shows and purges,
 * reading and changing the folder directly (the layout is ./content-store.ts's), while a server
 * may be running on it.
 *
 * Why that is safe without a lock: every change here is one unlink, or one tombstone written the
 * way a delete through the gateway writes it (./repository-references.ts `forget`), and the
 * server copes with both. A cached file that vanishes is a miss (`ContentStore.acquire` answers
 * undefined on ENOENT and forgets it), and a read already under way keeps its open descriptor, so
 * it completes. A marker removed or tombstoned makes the server ask the upstream again; an answer
 * the server was about to write, asked for before the tombstone, is not believed after it. The
 * worst a race can do is cost one more fetch from the upstream. Folders are never removed, so a
 * server writing a marker between its `mkdir` and its `writeFile` never finds its folder gone.
 *
 * The server's own account of its size (the `registry_gate_cache_size_bytes` gauge) learns of a
 * purge when it next reads or evicts what was purged, or at its next start.
 */
import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from '../../lib/errno.js';
import { tryParseDigest, type Digest } from '../filesystem/digest.js';
import { ContentStore, type ContentKind } from './content-store.js';
import { isTombstone, markerName, RepositoryReferences } from './repository-references.js';

const KINDS: readonly ContentKind[] = ['blobs', 'manifests'];

export interface CacheUsage {
  /** Bytes of verified content (blobs and manifests; not fills in progress, not the markers). */
  readonly bytes: number;
  readonly blobs: number;
  readonly manifests: number;
  /** Repositories the upstream said hold cached content (markers, however old; deletes not counted). */
  readonly repositories: number;
  readonly fillsInProgress: number;
}

export interface PurgeReport {
  /** Content files removed (a digest can be cached as a blob and as a manifest). */
  readonly files: number;
  readonly bytes: number;
  /** Markers removed (digest purge) or ended with a tombstone (repository purge). */
  readonly markers: number;
}

/** The entries of a folder; none when it does not exist (nothing was ever cached there). */
async function entriesOf(folder: string): Promise<string[]> {
  try {
    return await readdir(folder);
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw error;
  }
}

/** Removes a file; its size, or undefined when it was not there (already evicted, or never cached). */
async function removeFile(path: string): Promise<number | undefined> {
  try {
    const { size } = await stat(path);
    await unlink(path);
    return size;
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

/** Every `<kind>/<alg>/<hex>` under `root` (a content file, or a digest's refs folder) whose name is a digest. */
async function* digestPaths(root: string): AsyncGenerator<{ kind: ContentKind; digest: Digest; path: string }> {
  for (const kind of KINDS) {
    for (const algorithm of await entriesOf(join(root, kind))) {
      for (const hex of await entriesOf(join(root, kind, algorithm))) {
        const digest = tryParseDigest(`${algorithm}:${hex}`);
        if (digest) yield { kind, digest, path: join(root, kind, algorithm, hex) };
      }
    }
  }
}

export async function measureCacheUsage(dir: string): Promise<CacheUsage> {
  const counts: Record<ContentKind, number> = { blobs: 0, manifests: 0 };
  let bytes = 0;
  for await (const { kind, path } of digestPaths(dir)) {
    const info = await stat(path).catch(() => undefined); // evicted since it was listed
    if (!info?.isFile()) continue;
    counts[kind] += 1;
    bytes += info.size;
  }
  const repositories = new Set<string>();
  for await (const { path } of digestPaths(join(dir, 'refs'))) {
    for (const name of await entriesOf(path)) if (!isTombstone(name)) repositories.add(name);
  }
  const fillsInProgress = (await entriesOf(join(dir, 'tmp'))).length;
  return { bytes, blobs: counts.blobs, manifests: counts.manifests, repositories: repositories.size, fillsInProgress };
}

/**
 * Forgets a digest: its bytes (as a blob and as a manifest) and what the upstream said about
 * which repositories have it. Deletes' tombstones stay (they still end answers from before them).
 * The next read of the digest is fetched from the upstream again.
 */
export async function purgeDigest(dir: string, digest: Digest): Promise<PurgeReport> {
  let files = 0;
  let bytes = 0;
  let markers = 0;
  for (const kind of KINDS) {
    const size = await removeFile(join(dir, ContentStore.key(kind, digest)));
    if (size !== undefined) {
      files += 1;
      bytes += size;
    }
    const folder = join(dir, 'refs', ContentStore.key(kind, digest));
    for (const name of await entriesOf(folder)) {
      if (isTombstone(name)) continue;
      if ((await removeFile(join(folder, name))) !== undefined) markers += 1;
    }
  }
  return { files, bytes, markers };
}

/**
 * Forgets a repository: every "the upstream has this digest in this repository" is ended with a
 * tombstone, as a delete through the gateway ends it, and content that no other repository has
 * a marker for is removed (nothing else could be served it without asking the upstream again).
 * Content other repositories have stays cached for them. `scope` is the registry's, as
 * ./repository-references.ts keys it ('' for the upstream; a mirror's for a name at a mirror).
 */
export async function purgeRepository(dir: string, repository: string, scope = ''): Promise<PurgeReport> {
  const references = new RepositoryReferences(dir, scope);
  const name = markerName(repository, scope);
  let files = 0;
  let bytes = 0;
  let markers = 0;
  for await (const { kind, digest, path: folder } of digestPaths(join(dir, 'refs'))) {
    const entries = await entriesOf(folder);
    if (!entries.includes(name)) continue;
    await references.forget(kind, repository, digest);
    markers += 1;
    if (entries.some((entry) => entry !== name && !isTombstone(entry))) continue;
    const size = await removeFile(join(dir, ContentStore.key(kind, digest)));
    if (size === undefined) continue;
    files += 1;
    bytes += size;
  }
  return { files, bytes, markers };
}
