/**
 * The garbage collector's mark phase for one repository: which manifests are reachable, and which
 * blobs those manifests reference.
 *
 * Roots are the tags, every manifest linked recently (within the grace period: pushes in flight,
 * children pushed before their index), and, when untagged manifests are kept, every manifest.
 * From a reachable manifest, its index entries and its referrers (manifests whose `subject` it is)
 * are reachable too.
 */
import { readFile, stat } from 'node:fs/promises';
import { tryParseDigest, type Digest, type DigestAlgorithm } from './digest.js';
import { listDirectory, readTextIfExists } from './durable-fs.js';
import { referrerOfEntry, type StorageLayout } from './layout.js';
import { parseManifest, referencedBlobs } from './manifest-validation.js';

export interface ManifestLink {
  readonly digest: Digest;
  readonly mtimeMs: number;
}

export interface ManifestFacts {
  /** The manifest's own blob, its config and its layers. */
  readonly blobs: Digest[];
  readonly children: Digest[];
  readonly subject: Digest | undefined;
}

async function names(path: string): Promise<string[]> {
  return (await listDirectory(path)) ?? [];
}

export async function listManifestLinks(layout: StorageLayout, repository: string): Promise<ManifestLink[]> {
  const links: ManifestLink[] = [];
  for (const algorithm of ['sha256', 'sha512'] as DigestAlgorithm[]) {
    const dir = `${layout.manifestsDir(repository)}/${algorithm}`;
    for (const hex of await names(dir)) {
      const digest = tryParseDigest(`${algorithm}:${hex}`);
      const info = digest ? await stat(`${dir}/${hex}`).catch(() => undefined) : undefined;
      if (digest && info) links.push({ digest, mtimeMs: info.mtimeMs });
    }
  }
  return links;
}

/** What a stored manifest points at; a manifest that no longer parses still keeps its own blob. */
export async function manifestFacts(layout: StorageLayout, repository: string, digest: Digest): Promise<ManifestFacts | undefined> {
  const mediaType = await readTextIfExists(layout.manifestLink(repository, digest));
  if (mediaType === undefined) return undefined;
  const own = { blobs: [digest], children: [], subject: undefined };
  const bytes = await readFile(layout.blob(digest)).catch(() => undefined);
  if (bytes === undefined) return own;
  try {
    const manifest = parseManifest(bytes, mediaType);
    return {
      blobs: [digest, ...referencedBlobs(manifest)],
      children: manifest.manifests.map((entry) => entry.digest),
      subject: manifest.subject?.digest,
    };
  } catch {
    return own;
  }
}

async function referrersOf(layout: StorageLayout, repository: string, subject: Digest): Promise<Digest[]> {
  const found: Digest[] = [];
  for (const entry of await names(layout.referrersDir(repository, subject))) {
    const referrer = referrerOfEntry(entry);
    if (referrer) found.push(referrer);
  }
  return found;
}

async function taggedDigests(layout: StorageLayout, repository: string): Promise<Digest[]> {
  const found: Digest[] = [];
  for (const tag of await names(layout.tagsDir(repository))) {
    const target = await readTextIfExists(layout.tag(repository, tag));
    const digest = target === undefined ? undefined : tryParseDigest(target.trim());
    if (digest) found.push(digest);
  }
  return found;
}

/** The reachable manifests of `repository`, with what each references. */
export async function markRepository(
  layout: StorageLayout,
  repository: string,
  links: readonly ManifestLink[],
  options: { removeUntagged: boolean; freshSince: number },
): Promise<Map<string, ManifestFacts>> {
  const roots: Digest[] = await taggedDigests(layout, repository);
  for (const link of links) {
    if (!options.removeUntagged || link.mtimeMs >= options.freshSince) roots.push(link.digest);
  }
  const reachable = new Map<string, ManifestFacts>();
  // Each digest is queued once and read once, however many indexes list it: the mark is linear in
  // the repository's manifests and their entries, whatever their nesting (no `shift()`, which is
  // linear itself, and no queue of repeated entries).
  const queued = new Set<string>();
  const queue: Digest[] = [];
  const enqueue = (digest: Digest): void => {
    if (queued.has(digest.value)) return;
    queued.add(digest.value);
    queue.push(digest);
  };
  roots.forEach(enqueue);
  for (let index = 0; index < queue.length; index += 1) {
    const next = queue[index] as Digest;
    const facts = await manifestFacts(layout, repository, next);
    if (!facts) continue; // a tag or index entry naming a manifest this repository does not hold
    reachable.set(next.value, facts);
    facts.children.forEach(enqueue);
    (await referrersOf(layout, repository, next)).forEach(enqueue);
  }
  return reachable;
}
