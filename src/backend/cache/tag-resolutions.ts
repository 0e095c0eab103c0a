/**
 * Tags are not content: a pull by tag asks the upstream which digest the tag names (one HEAD, with
 * the client's Accept, since what a tag names depends on it) and is answered by that digest from
 * the cache. The answer is kept for `tagTtl` (0: not at all); a manifest pushed or deleted through
 * this gateway forgets the repository's answers at once, and an answer asked for before such a
 * change but arriving after it is not kept (it may name what the change replaced). Without an Accept header the request is
 * the upstream's to answer (what it names then is its own convention).
 *
 * The last answer is kept beyond `tagTtl` too, for one use only: while the upstream is failing
 * (refused, timed out, 5xx, 429) the tag is answered with it, stale (./stale.ts).
 */
import { isDigest } from '../../oci/names.js';
import { tryParseDigest, type Digest } from '../filesystem/digest.js';
import { contentPath, type CacheParts } from './cache-parts.js';
import { isFailingStatus, isFailure, servedStale } from './stale.js';

/** Answers kept, at most; past it they are all dropped (they are cheap to ask again). */
const MAX_TAG_ANSWERS = 10_000;

export class TagResolutions {
  readonly #parts: CacheParts;
  readonly #ttlMs: number;
  readonly #answers = new Map<string, { digest: Digest; until: number }>();
  /** The last answer for each tag and Accept, whatever its age: what a failing upstream is answered with. */
  readonly #lastKnown = new Map<string, Digest>();
  /** When a repository's manifests last changed through this gateway (Date.now()); bounded as the answers are. */
  readonly #changedAt = new Map<string, number>();
  /** Changes before this are no longer told apart (the map above was emptied): as if every repository changed then. */
  #everythingChangedAt = 0;

  constructor(parts: CacheParts, ttlMs: number) {
    this.#parts = parts;
    this.#ttlMs = ttlMs;
  }

  /** The digest the tag names for this Accept, or undefined when the upstream answers anything but 200 with one. */
  async resolve(repository: string, tag: string, accept: string): Promise<Digest | undefined> {
    const key = `${repository}\n${tag}\n${accept}`;
    const known = this.#answers.get(key);
    if (known && known.until > Date.now()) return known.digest;
    const askedAt = Date.now();
    let status: number;
    let stated: string | string[] | undefined;
    try {
      const response = await this.#parts.source.fetchContent(repository, contentPath('manifests', repository, tag), 'HEAD', accept);
      await response.body.dump();
      ({ statusCode: status } = response);
      stated = response.headers['docker-content-digest'];
    } catch (error) {
      return this.#staleOr(key, { repository, tag, cause: error }, () => {
        throw error;
      });
    }
    if (isFailingStatus(status)) return this.#staleOr(key, { repository, tag, cause: status }, () => undefined);
    const digest = typeof stated === 'string' && isDigest(stated) ? tryParseDigest(stated) : undefined;
    if (status !== 200 || !digest) {
      this.#lastKnown.delete(key); // the upstream says the tag is gone (or names nothing usable)
      return undefined;
    }
    await this.#parts.references.remember('manifests', repository, digest, askedAt);
    if (askedAt > Math.max(this.#changedAt.get(repository) ?? 0, this.#everythingChangedAt)) this.#keep(key, digest);
    return digest;
  }

  #keep(key: string, digest: Digest): void {
    if (this.#lastKnown.size >= MAX_TAG_ANSWERS) this.#lastKnown.clear();
    this.#lastKnown.set(key, digest);
    if (this.#ttlMs <= 0) return;
    if (this.#answers.size >= MAX_TAG_ANSWERS) this.#answers.clear();
    this.#answers.set(key, { digest, until: Date.now() + this.#ttlMs });
  }

  /** The upstream is failing: the last answer for the tag, served stale, else `otherwise()`. */
  #staleOr(
    key: string,
    what: { repository: string; tag: string; cause: unknown },
    otherwise: () => Digest | undefined,
  ): Digest | undefined {
    if (!(typeof what.cause === 'number' || isFailure(what.cause))) return otherwise();
    const last = this.#lastKnown.get(key);
    if (!last) return otherwise();
    servedStale(this.#parts.logger, this.#parts.observer, {
      kind: 'tags',
      repository: what.repository,
      reference: what.tag,
      cause: what.cause,
    });
    return last;
  }

  /** A manifest of the repository was pushed or deleted: its tags may name something else now. */
  forgetRepository(repository: string): void {
    if (this.#changedAt.size >= MAX_TAG_ANSWERS) {
      this.#changedAt.clear();
      this.#everythingChangedAt = Date.now();
    }
    this.#changedAt.set(repository, Date.now());
    const prefix = `${repository}\n`;
    for (const key of this.#answers.keys()) if (key.startsWith(prefix)) this.#answers.delete(key);
    for (const key of this.#lastKnown.keys()) if (key.startsWith(prefix)) this.#lastKnown.delete(key);
  }
}
