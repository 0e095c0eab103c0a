/**
 * How much work one request may cause when the amount would otherwise be chosen by whoever pushed
 * the content (ARCHITECTURE.md, "Every request's work is bounded"). An index may list thousands of
 * children, each up to MAX_MANIFEST_BYTES, each an index again; tags, referrers and token scopes
 * come in any number. Every walk over such content takes a fresh WorkBudget per request, and a memo
 * per digest so that a manifest named many times is read and parsed once.
 *
 * Past its budget a walk stops. What it was for decides what that means: a page shows what it read
 * and says the rest was not expanded; a security decision (is this blob used by a protected tag?)
 * answers as if it were, so the request is refused, never allowed because the walk gave up.
 */

export interface WalkLimits {
  /** Manifests read, each at most MAX_MANIFEST_BYTES (src/lib/read-body.ts). */
  readonly manifests: number;
  /** Bytes of manifests parsed, all reads of the request together. */
  readonly bytes: number;
  /** Index levels followed below the manifest a walk starts from. */
  readonly depth: number;
  /** Entries of one index that are followed. */
  readonly children: number;
  /** Tags looked at (listed, and resolved when a walk starts from them). */
  readonly tags: number;
}

const MIB = 1024 * 1024;

/** A web UI page: a manifest and the sizes of its platforms, or a page of tags with theirs. */
export const DISPLAY_LIMITS: WalkLimits = Object.freeze({ manifests: 128, bytes: 16 * MIB, depth: 2, children: 32, tags: 50 });

/**
 * Whether a blob is used by a protected tag, for a blob delete without `overwrite`: every child of
 * every index must be looked at (a child skipped could be the one that uses the blob), so a walk
 * past these limits refuses the delete. A repository of a few hundred multi-platform releases fits.
 */
export const DECISION_LIMITS: WalkLimits = Object.freeze({
  manifests: 2048,
  bytes: 32 * MIB,
  depth: 8,
  children: Number.POSITIVE_INFINITY,
  tags: 10_000,
});

/** Scopes in one token request; Docker and Distribution's clients send one to a handful. */
export const MAX_TOKEN_SCOPES = 64;

/** Referrer entries one referrers request looks at; more come through the `Link` of the answer. */
export const MAX_REFERRERS_PER_PAGE = 1000;

/** What one request has spent of its WalkLimits; a walk asks before each step. */
export class WorkBudget {
  #manifests = 0;
  #bytes = 0;
  #tags = 0;
  #exceeded = false;

  constructor(readonly limits: WalkLimits) {}

  /** One more manifest read: false (and the budget marked exceeded) when the request has read its share. */
  readManifest(): boolean {
    return this.#take(this.#manifests + 1 <= this.limits.manifests, () => (this.#manifests += 1));
  }

  /** Parsing `bytes` more of manifests: false (exceeded) when that would pass the request's bytes. */
  parseBytes(bytes: number): boolean {
    return this.#take(this.#bytes + bytes <= this.limits.bytes, () => (this.#bytes += bytes));
  }

  /** `count` more tags looked at. */
  lookAtTags(count: number): boolean {
    return this.#take(this.#tags + count <= this.limits.tags, () => (this.#tags += count));
  }

  /** Whether a level this deep may be followed (0 is the manifest the walk starts from). */
  follows(depth: number): boolean {
    return this.#take(depth <= this.limits.depth, () => 0);
  }

  /** Whether every entry of an index with `count` entries may be followed. */
  followsAll(count: number): boolean {
    return this.#take(count <= this.limits.children, () => 0);
  }

  /** Some step was refused: the walk did not see everything. */
  get exceeded(): boolean {
    return this.#exceeded;
  }

  get spent(): { readonly manifests: number; readonly bytes: number; readonly tags: number } {
    return { manifests: this.#manifests, bytes: this.#bytes, tags: this.#tags };
  }

  #take(fits: boolean, count: () => unknown): boolean {
    if (!fits) {
      this.#exceeded = true;
      return false;
    }
    count();
    return true;
  }
}

/**
 * Deciding whether a pull is signed (src/signatures/): what one verdict may read, whatever the
 * signature tag and the manifests in the repository hold. Past a limit the verdict is "not signed".
 */
export const SIGNATURE_LIMITS = Object.freeze({
  /** Layers (signatures) of one cosign signature manifest that are checked. */
  signaturesPerManifest: 16,
  /** Bytes of one signed payload (cosign's are a few hundred). */
  payloadBytes: 64 * 1024,
  /** Entries of a signed index remembered as signed through it. */
  indexChildren: 1024,
  /** Tags listed when a manifest pulled by digest is looked for in a signed index. */
  tagsListed: 1000,
  /** Signed indexes read in that search. */
  parentsRead: 8,
  /** Referrer manifests of one digest read for a sigstore bundle (policies with `referrers: true`). */
  referrersRead: 8,
  /** Bytes of one sigstore bundle (a key-based one is about 1 KiB, one with a certificate and a log entry about 5 KiB). */
  bundleBytes: 64 * 1024,
  /** Subjects of one in-toto statement compared with the manifest's digest. */
  statementSubjects: 64,
});
