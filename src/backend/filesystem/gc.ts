/**
 * Garbage collection of the built-in registry, safe while the server keeps serving.
 *
 * 1. Mark, per repository (gc-reachability.ts): the reachable manifests and the blobs they reference.
 * 2. Unlink the manifests nothing reaches (untagged, not a referrer of anything kept), unless they
 *    were linked within the grace period.
 * 3. Look again: manifests linked since the mark began (pushes that raced with us) are marked too.
 * 4. Delete the blobs nothing marked, unless touched within the grace period. A pushed blob is
 *    fresh until its manifest arrives, and a manifest push touches every blob it references
 *    before checking it exists, so a blob an in-flight push relies on is never deleted; blobs
 *    being uploaded are not under `blobs/` at all until complete.
 * 5. Remove the repository links of the deleted blobs (unless re-pushed meanwhile).
 *
 * Every removal renames the file aside under `_tmp/gc/` first and decides after a second look
 * (see removeUnlessFresh); a run that crashed in between is undone by the next run.
 */
import { mkdir, readdir, rename, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { PRIVATE_DIR_MODE } from '../../lib/file-modes.js';
import { digestOf, tryParseDigest, type Digest, type DigestAlgorithm } from './digest.js';
import { fsyncDir, mkdirDurable } from '../../lib/atomic-write.js';
import { listDirectory, removeDurable } from './durable-fs.js';
import { listManifestLinks, manifestFacts, markRepository, type ManifestFacts } from './gc-reachability.js';
import { StorageLayout } from './layout.js';
import { listRepositoryNames } from './repositories.js';

export interface GcOptions {
  readonly root: string;
  /** Report what would be removed without removing anything. */
  readonly dryRun: boolean;
  /** Remove manifests that no tag or referrer relation reaches. Default true. */
  readonly removeUntagged?: boolean;
  /** Content written or used more recently than this is never removed. Default one hour. */
  readonly gracePeriodMs?: number;
}

export interface GcReport {
  readonly removedBlobs: string[];
  /** `repository@digest` */
  readonly removedManifests: string[];
  readonly bytesFreed: number;
}

export const DEFAULT_GC_GRACE_MS = 60 * 60 * 1000;
const ALGORITHMS: DigestAlgorithm[] = ['sha256', 'sha512'];

async function names(path: string): Promise<string[]> {
  return (await listDirectory(path)) ?? [];
}

export async function runGc(options: GcOptions): Promise<GcReport> {
  const layout = new StorageLayout(resolve(options.root));
  const startedAt = Date.now();
  const freshSince = startedAt - (options.gracePeriodMs ?? DEFAULT_GC_GRACE_MS);
  const removeUntagged = options.removeUntagged ?? true;
  await restoreSetAside(layout);
  const kept = new Set<string>();
  const keep = (facts: ManifestFacts): void => facts.blobs.forEach((digest) => kept.add(digest.value));
  const removedManifests: string[] = [];
  const repositories = await listRepositoryNames(layout.repositoriesDir, undefined, Number.POSITIVE_INFINITY);

  for (const repository of repositories) {
    const links = await listManifestLinks(layout, repository);
    const reachable = await markRepository(layout, repository, links, { removeUntagged, freshSince });
    for (const facts of reachable.values()) keep(facts);
    for (const link of links) {
      if (reachable.has(link.digest.value)) continue;
      if (options.dryRun) {
        removedManifests.push(`${repository}@${link.digest.value}`);
        continue;
      }
      const facts = await manifestFacts(layout, repository, link.digest);
      if (await removeManifestIfStale(layout, repository, link.digest, facts, freshSince)) {
        removedManifests.push(`${repository}@${link.digest.value}`);
      } else if (facts) keep(facts);
    }
  }

  // Step 3: whatever was linked while we were marking keeps what it references.
  for (const repository of await listRepositoryNames(layout.repositoriesDir, undefined, Number.POSITIVE_INFINITY)) {
    for (const link of await listManifestLinks(layout, repository)) {
      if (link.mtimeMs < freshSince) continue;
      const facts = await manifestFacts(layout, repository, link.digest);
      if (facts) keep(facts);
    }
  }

  const removedBlobs: string[] = [];
  let bytesFreed = 0;
  for (const digest of await unmarkedBlobs(layout, kept)) {
    const path = layout.blob(digest);
    const size = options.dryRun ? await staleSize(path, freshSince) : await removeUnlessFresh(layout, path, freshSince);
    if (size === undefined) continue;
    removedBlobs.push(digest.value);
    bytesFreed += size;
  }
  if (!options.dryRun && removedBlobs.length > 0) {
    await removeLayerLinks(layout, repositories, new Set(removedBlobs), freshSince);
  }
  await restoreSetAside(layout); // nothing is left there now; this clears the folders
  return { removedBlobs, removedManifests, bytesFreed };
}

/** The size of the file if it exists and was not touched within the grace period. */
async function staleSize(path: string, freshSince: number): Promise<number | undefined> {
  const info = await stat(path).catch(() => undefined);
  return info && info.mtimeMs < freshSince ? info.size : undefined;
}

/**
 * Removes a file unless it is fresh; returns its size when removed. The file is first renamed
 * aside, then looked at again: a push touches what it relies on *before* checking that it exists,
 * so either its touch landed before the rename (seen here: the file is put back) or its check
 * comes after it (and finds nothing, so the push fails cleanly instead of referencing a ghost).
 */
async function removeUnlessFresh(layout: StorageLayout, path: string, freshSince: number): Promise<number | undefined> {
  if ((await staleSize(path, freshSince)) === undefined) return undefined;
  const aside = asidePath(layout, path);
  try {
    await mkdir(dirname(aside), { recursive: true, mode: PRIVATE_DIR_MODE });
    await rename(path, aside);
  } catch {
    return undefined;
  }
  try {
    const info = await stat(aside);
    if (info.mtimeMs >= freshSince) {
      await rename(aside, path);
      return undefined;
    }
    await unlink(aside);
    await fsyncDir(dirname(path));
    return info.size;
  } catch {
    return undefined; // another run put it back meanwhile: not ours to decide any more
  }
}

/** Where a file is set aside: the same path under `_tmp/gc/`, so a crashed run's files can be put back. */
function asidePath(layout: StorageLayout, path: string): string {
  return join(layout.gcAsideDir, relative(layout.root, path));
}

/** Puts back what a run that crashed between its rename and its decision had set aside. */
async function restoreSetAside(layout: StorageLayout, dir = layout.gcAsideDir): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      await restoreSetAside(layout, path);
      await rmdir(path).catch(() => undefined);
    } else {
      const original = join(layout.root, relative(layout.gcAsideDir, path));
      await mkdirDurable(dirname(original));
      await rename(path, original);
    }
  }
}

/** Unlinks an unreachable manifest (then its referrer entry) unless it was used again meanwhile. */
async function removeManifestIfStale(
  layout: StorageLayout,
  repository: string,
  digest: Digest,
  facts: ManifestFacts | undefined,
  freshSince: number,
): Promise<boolean> {
  if ((await removeUnlessFresh(layout, layout.manifestLink(repository, digest), freshSince)) === undefined) return false;
  if (facts?.subject) await removeDurable(layout.referrerEntry(repository, facts.subject, digest));
  return true;
}

async function unmarkedBlobs(layout: StorageLayout, kept: ReadonlySet<string>): Promise<Digest[]> {
  const found: Digest[] = [];
  for (const algorithm of ALGORITHMS) {
    const algorithmDir = join(layout.blobsDir, algorithm);
    for (const prefix of await names(algorithmDir)) {
      for (const hex of await names(join(algorithmDir, prefix))) {
        const digest = tryParseDigest(`${algorithm}:${hex}`);
        if (digest && !kept.has(digest.value)) found.push(digest);
      }
    }
  }
  return found;
}

/** Drops the repository links of deleted blobs, except links refreshed by a re-push of the same content. */
async function removeLayerLinks(
  layout: StorageLayout,
  repositories: readonly string[],
  removed: ReadonlySet<string>,
  freshSince: number,
): Promise<void> {
  for (const repository of repositories) {
    for (const algorithm of ALGORITHMS) {
      for (const hex of await names(join(layout.layersDir(repository), algorithm))) {
        const digest = digestOf(algorithm, hex);
        if (!removed.has(digest.value) || (await stat(layout.blob(digest)).catch(() => undefined))) continue;
        await removeUnlessFresh(layout, layout.layerLink(repository, digest), freshSince);
      }
    }
  }
}
