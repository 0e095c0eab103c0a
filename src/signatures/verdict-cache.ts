/**
 * Verdicts of one policy, per (repository, digest), kept for a short time: a warm pull of a signed
 * image costs a map lookup. A verdict is dropped when the policy's keys change (all of them) or a
 * manifest of its repository is pushed or deleted through the gateway (that repository's: a
 * signature tag may have been written, replaced or removed). A change made behind the gateway's
 * back (another replica, a writer straight to the registry behind) is seen within the TTL.
 *
 * Each process keeps its own (workers, replicas): a verdict is cheap to make again, and a stale one
 * lives at most the TTL.
 */
import type { SignatureOutcome } from './cosign.js';

export const VERDICT_TTL_MS = 30_000;
export const MAX_VERDICTS = 10_000;

interface Entry {
  readonly outcome: SignatureOutcome;
  readonly expires: number;
}

export class VerdictCache {
  /** Repository → digest → verdict. */
  readonly #repositories = new Map<string, Map<string, Entry>>();
  /** Repository → how many times its verdicts were dropped: a verdict made across a drop is not kept. */
  readonly #generations = new Map<string, number>();
  /**
   * How many times every verdict was dropped (the keys changed): counted apart from the
   * repositories', so that a verdict in the making in a repository with nothing cached yet is not
   * kept across it either.
   */
  #clears = 0;
  #size = 0;

  constructor(
    private readonly ttlMs = VERDICT_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  get(repository: string, digest: string): SignatureOutcome | undefined {
    const entry = this.#repositories.get(repository)?.get(digest);
    if (!entry) return undefined;
    if (entry.expires > this.now()) return entry.outcome;
    this.#delete(repository, digest);
    return undefined;
  }

  /** A token to hand back to `set`: a verdict made while the repository's verdicts were dropped is not kept. */
  generation(repository: string): number {
    // Both counters only grow, so their sum changes whenever either does.
    return this.#clears + (this.#generations.get(repository) ?? 0);
  }

  set(repository: string, digest: string, outcome: SignatureOutcome, generation: number): void {
    if (generation !== this.generation(repository)) return;
    let digests = this.#repositories.get(repository);
    if (!digests) {
      digests = new Map();
      this.#repositories.set(repository, digests);
    }
    if (!digests.has(digest)) this.#size += 1;
    digests.set(digest, { outcome, expires: this.now() + this.ttlMs });
    if (this.#size > MAX_VERDICTS) this.#evictOldestRepository(repository);
  }

  /** Signatures in `repository` may have changed. */
  dropRepository(repository: string): void {
    this.#generations.set(repository, (this.#generations.get(repository) ?? 0) + 1);
    const digests = this.#repositories.get(repository);
    if (!digests) return;
    this.#size -= digests.size;
    this.#repositories.delete(repository);
  }

  /** The keys changed: every verdict goes, and so does every verdict being made. */
  clear(): void {
    this.#clears += 1;
    this.#repositories.clear();
    this.#size = 0;
  }

  #delete(repository: string, digest: string): void {
    const digests = this.#repositories.get(repository);
    if (!digests?.delete(digest)) return;
    this.#size -= 1;
    if (digests.size === 0) this.#repositories.delete(repository);
  }

  /** Over the cap: the oldest entries go, first of other repositories (insertion order), then this one's. */
  #evictOldestRepository(keep: string): void {
    for (const [repository, digests] of this.#repositories) {
      if (this.#size <= MAX_VERDICTS) return;
      if (repository === keep && this.#repositories.size > 1) continue;
      for (const digest of [...digests.keys()]) {
        if (this.#size <= MAX_VERDICTS) return;
        this.#delete(repository, digest);
      }
    }
  }
}
