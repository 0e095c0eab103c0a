/**
 * The verified-credential cache in front of every password provider. A bcrypt check costs tens of
 * milliseconds and `docker push` sends the same credentials on every request; after one successful
 * check the pair is trusted for `ttlMs` without hashing again.
 *
 * Entries are keyed by HMAC-SHA256(user NUL password) under a random key made at start-up and never
 * stored, so the cache (or a heap dump of it) holds neither a password nor a plain hash one could
 * test guesses against offline. Only successful verifications are cached; a flush (the password
 * file changed) drops everything, and a verification that started before a flush is not cached.
 * A credential that expires by itself (a federated token used as a password) is trusted until its
 * expiry at most.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { isRegistryError } from '../oci/errors.js';
import type { AuthProvider, Credentials, Identity } from './identity.js';

/** How one verification ended: from the cache, by a provider's check, refused, throttled (429), or no provider could answer (503). */
export type VerifyOutcome = 'cache_hit' | 'password_check' | 'failure' | 'throttled' | 'unavailable';

export interface CredentialCacheOptions {
  /** Most entries kept; the least recently used goes first. 0 disables caching. */
  readonly maxEntries: number;
  /** How long a verified pair is trusted, counted from its verification (a hit does not extend it). 0 disables caching. */
  readonly ttlMs: number;
  /** Clock, for tests. */
  readonly now?: () => number;
}

interface Entry {
  readonly identity: Identity;
  readonly expiresAt: number;
}

export class CredentialCache {
  private readonly secret = randomBytes(32);
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;
  private readonly ttlMs: number;
  private readonly now: () => number;
  private flushes = 0;

  constructor(options: CredentialCacheOptions) {
    this.maxEntries = Math.max(0, Math.floor(options.maxEntries));
    this.ttlMs = Math.max(0, options.ttlMs);
    this.now = options.now ?? Date.now;
  }

  /** The cache key of a pair: an HMAC under the per-process secret. */
  keyOf(credentials: Credentials): string {
    return createHmac('sha256', this.secret).update(credentials.user).update('\0').update(credentials.password).digest('base64');
  }

  get(key: string): Identity | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (entry.expiresAt <= this.now()) return undefined;
    this.entries.set(key, entry); // most recently used goes last
    return entry.identity;
  }

  /** Trusted for `ttlMs`, never past `identity.validUntil` (a federated token's `exp`): a token is good until its own expiry only. */
  set(key: string, identity: Identity): void {
    if (this.maxEntries === 0 || this.ttlMs === 0) return;
    const now = this.now();
    const expiresAt = Math.min(now + this.ttlMs, identity.validUntil ?? Infinity);
    if (expiresAt <= now) return;
    this.entries.delete(key);
    this.entries.set(key, { identity, expiresAt });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  flush(): void {
    this.entries.clear();
    this.flushes += 1;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Changes on every flush; a result computed across a flush must not be stored. */
  get generation(): number {
    return this.flushes;
  }
}

/**
 * A provider behind the cache. Concurrent verifications of the same pair share one provider call
 * (N parallel layer uploads with the same credentials cost one bcrypt, not N).
 */
export class CachedVerifier implements AuthProvider {
  readonly name: string;
  readonly cache: CredentialCache;
  private readonly inFlight = new Map<string, Promise<Identity | null>>();

  constructor(
    private readonly provider: AuthProvider,
    options: CredentialCacheOptions,
    /** Told how each verification ended (metrics); a shared in-flight check counts once per caller. */
    private readonly observe: (outcome: VerifyOutcome) => void = () => undefined,
  ) {
    this.name = provider.name;
    this.cache = new CredentialCache(options);
  }

  verify(credentials: Credentials): Promise<Identity | null> {
    const key = credentials.user.includes('\0') ? undefined : this.cache.keyOf(credentials);
    const hit = key === undefined ? undefined : this.cache.get(key);
    if (hit) {
      this.observe('cache_hit');
      return Promise.resolve(hit);
    }
    const verification = key === undefined ? this.provider.verify(credentials) : this.verifyAndCache(key, credentials);
    return verification.then(
      (identity) => {
        this.observe(identity ? 'password_check' : 'failure');
        return identity;
      },
      (error: unknown) => {
        const code = isRegistryError(error) ? error.code : undefined;
        this.observe(code === 'TOOMANYREQUESTS' ? 'throttled' : code === 'UNAVAILABLE' ? 'unavailable' : 'failure');
        throw error;
      },
    );
  }

  /** A provider check whose success is cached; concurrent checks of the same pair share one call. */
  private verifyAndCache(key: string, credentials: Credentials): Promise<Identity | null> {
    // A NUL in the user name would make "user NUL password" ambiguous; such pairs never get here.
    const pending = this.inFlight.get(key);
    if (pending) return pending;

    const generation = this.cache.generation;
    const verification: Promise<Identity | null> = Promise.resolve()
      .then(() => this.provider.verify(credentials))
      .then((identity) => {
        if (identity && this.cache.generation === generation) this.cache.set(key, identity);
        return identity;
      })
      .finally(() => {
        if (this.inFlight.get(key) === verification) this.inFlight.delete(key);
      });
    this.inFlight.set(key, verification);
    return verification;
  }

  /** Forget every verified pair (call when the provider's users change). */
  flush(): void {
    this.cache.flush();
    this.inFlight.clear();
  }

  async close(): Promise<void> {
    this.flush();
    await this.provider.close?.();
  }
}
