/**
 * Whether a blob is used by a protected tag: the question a blob delete without `overwrite` asks
 * (access/policy.ts). A tag uses a blob when its manifest is the blob, or references it as config
 * or layer, or has an index entry that does, at any depth: an index of indexes of images is as much
 * a release as an index of images.
 *
 * The walk goes through the backend's content reads (the same for the built-in registry and an
 * upstream) under DECISION_LIMITS (src/lib/work-budget.ts). It remembers per digest what it found,
 * so a manifest that many tags or entries name is read once, and one walk serves every rule the
 * decision asks about. A walk that cannot finish within the limits, or meets a manifest it cannot
 * read, answers `undecided`, which the probe reports as used: the delete is refused, never allowed
 * because the walk gave up.
 */
import { DECISION_LIMITS, WorkBudget } from '../lib/work-budget.js';
import { isRegistryError } from '../oci/errors.js';
import { manifestReferences } from '../oci/manifest-references.js';

/** The backend's reads this walk needs (the Backend interface has them). */
export interface TaggedContent {
  listTags(
    repository: string,
    after: string | undefined,
    limit: number,
  ): Promise<{ readonly tags: string[]; readonly more: boolean } | undefined>;
  manifestDigest(repository: string, reference: string): Promise<string | undefined>;
  readManifest(repository: string, reference: string): Promise<{ readonly bytes: Buffer } | undefined>;
}

export type BlobUse = 'used' | 'unused' | 'undecided';

const TAGS_PER_READ = 1000;
/** Stands for a manifest over MAX_MANIFEST_BYTES: it counts as read, and as not readable. */
const TOO_LARGE = Object.freeze({ bytes: Buffer.alloc(0) });

export class ProtectedBlobWalk {
  readonly #budget = new WorkBudget(DECISION_LIMITS);
  /** Manifests looked at to the end, by digest: whether they (or anything below them) use the blob. */
  readonly #found = new Map<string, boolean>();
  readonly #tagDigests = new Map<string, string | undefined>();
  #tags: Promise<string[] | undefined> | undefined;
  #unreadable = false;

  constructor(
    private readonly source: TaggedContent,
    private readonly repository: string,
    private readonly blob: string,
  ) {}

  /** Whether a tag that `selected` accepts uses the blob. */
  async uses(selected: (tag: string) => boolean): Promise<BlobUse> {
    this.#tags ??= this.#listTags();
    const tags = await this.#tags;
    if (!tags) return 'undecided';
    for (const tag of tags) {
      if (!selected(tag)) continue;
      const digest = await this.#resolve(tag);
      if (digest !== undefined && (await this.#holds(digest, 0))) return 'used';
      if (this.undecided) return 'undecided';
    }
    return 'unused';
  }

  /** The walk stopped short: past its limits, or at a manifest it could not read. */
  get undecided(): boolean {
    return this.#budget.exceeded || this.#unreadable;
  }

  /** Every tag of the repository, or undefined when there are more than the limits let one request look at. */
  async #listTags(): Promise<string[] | undefined> {
    const tags: string[] = [];
    for (let after: string | undefined; ;) {
      const page = await this.source.listTags(this.repository, after, TAGS_PER_READ);
      if (!page) return tags;
      if (!this.#budget.lookAtTags(page.tags.length)) return undefined;
      tags.push(...page.tags);
      after = page.tags.at(-1);
      if (!page.more || after === undefined) return tags;
    }
  }

  /** The digest a tag names; a lookup counts as a manifest read (in front of an upstream it is a request). */
  async #resolve(tag: string): Promise<string | undefined> {
    if (this.#tagDigests.has(tag)) return this.#tagDigests.get(tag);
    if (!this.#budget.readManifest()) return undefined;
    const digest = await this.source.manifestDigest(this.repository, tag);
    this.#tagDigests.set(tag, digest);
    return digest;
  }

  /** A manifest's bytes; one larger than a read may take (an upstream may hold such) cannot be checked. */
  async #read(digest: string): Promise<{ readonly bytes: Buffer } | undefined> {
    return this.source.readManifest(this.repository, digest).catch((error: unknown) => {
      if (isRegistryError(error) && error.code === 'MANIFEST_TOO_LARGE') return TOO_LARGE;
      throw error;
    });
  }

  /** Whether the manifest `digest` (`depth` index levels below a tag) is, or leads to, the blob. */
  async #holds(digest: string, depth: number): Promise<boolean> {
    if (digest === this.blob) return true;
    const known = this.#found.get(digest);
    if (known !== undefined) return known;
    if (!this.#budget.follows(depth) || !this.#budget.readManifest()) return false;
    const content = await this.#read(digest);
    // A manifest this repository does not hold leads nowhere here.
    if (content && !this.#budget.parseBytes(content.bytes.length)) return false;
    const references = content ? manifestReferences(content.bytes) : { blobs: [], children: [] };
    if (!references || content === TOO_LARGE) {
      this.#unreadable = true;
      return false;
    }
    let holds = references.blobs.includes(this.blob);
    if (!holds && !this.#budget.followsAll(references.children.length)) return false;
    for (const child of references.children) {
      if (holds || this.undecided) break;
      holds = await this.#holds(child, depth + 1);
    }
    if (this.undecided && !holds) return false;
    this.#found.set(digest, holds);
    return holds;
  }
}
