/**
 * The owners of personal access tokens, looked up without a password as a refresh token's subject
 * is (the provider chain's `lookup`), and remembered briefly: a token may come with every request
 * of a push, and a directory search per request would cost what the verified-credential cache
 * exists to save. An answer is kept `ttlMs` (auth.cacheTtl) and dropped at once when users, groups
 * or robots change (`flush`), as the credential cache is: a user deleted from the htpasswd file
 * stops their tokens at once, a directory user within `ttlMs`. A lookup that throws (the directory
 * is down) is not kept; concurrent lookups of one name share one call.
 */
import type { AuthOutcome } from './identity.js';

export interface OwnerLookupOptions {
  readonly ttlMs: number;
  readonly maxEntries: number;
  readonly now?: () => number;
}

interface Entry {
  readonly outcome: AuthOutcome;
  readonly expiresAt: number;
}

export class OwnerLookupCache {
  readonly #lookup: (user: string) => Promise<AuthOutcome>;
  readonly #options: OwnerLookupOptions;
  readonly #entries = new Map<string, Entry>();
  readonly #inFlight = new Map<string, Promise<AuthOutcome>>();
  #generation = 0;

  constructor(lookup: (user: string) => Promise<AuthOutcome>, options: OwnerLookupOptions) {
    this.#lookup = lookup;
    this.#options = options;
  }

  lookup(user: string): Promise<AuthOutcome> {
    const now = (this.#options.now ?? Date.now)();
    const entry = this.#entries.get(user);
    if (entry && entry.expiresAt > now) return Promise.resolve(entry.outcome);
    if (entry) this.#entries.delete(user);
    const pending = this.#inFlight.get(user);
    if (pending) return pending;
    const generation = this.#generation;
    const asked = this.#lookup(user)
      .then((outcome) => {
        if (generation === this.#generation) this.#remember(user, outcome, now);
        return outcome;
      })
      .finally(() => {
        if (this.#inFlight.get(user) === asked) this.#inFlight.delete(user);
      });
    this.#inFlight.set(user, asked);
    return asked;
  }

  /** Forgets every answer (users, groups or robots changed); lookups under way are not kept either. */
  flush(): void {
    this.#entries.clear();
    this.#inFlight.clear();
    this.#generation += 1;
  }

  #remember(user: string, outcome: AuthOutcome, now: number): void {
    const { ttlMs, maxEntries } = this.#options;
    if (ttlMs <= 0 || maxEntries <= 0) return;
    this.#entries.set(user, { outcome, expiresAt: now + ttlMs });
    while (this.#entries.size > maxEntries) this.#entries.delete(this.#entries.keys().next().value as string);
  }
}
