/**
 * Brute-force protection for password checks. Failed checks are counted three ways:
 *
 * - per account and client address (`maxFailuresPerAccount`): past it, that client's attempts at
 *   that account get 429 with a Retry-After that doubles with each further failure (capped at
 *   `maxDelay`). This stops one client guessing one account's password;
 * - per client address (`maxFailuresPerIp`), whatever the account, with the same back-off: this
 *   stops one client spraying many accounts;
 * - per account, from all clients together: no more than `maxFailuresPerAccountPerHour` failed
 *   checks within any hour (OWASP ASVS 2.2.1: at most 100).
 *
 * Failures from one client never delay another client's attempt at the same account: the only
 * limit clients share is the hourly cap, and the back-off keeps one address far below it. With the
 * defaults (5 failures, then 1 s doubling to 15 min) one address gets at most 17 failed checks of
 * one account in its first hour and 4 an hour after that, so using up the cap of 100 takes at
 * least 6 addresses within an hour (IPv6: 6 prefixes), and keeping it used up at least 25. Such an
 * attacker can make the owner's never-verified password wait; nothing else is shared:
 * - call `check()` only for credentials the verified-credential cache does not hold;
 * - a pair that succeeded within `rememberSuccess` passes every limit (remembered.ts).
 *
 * Concurrency: each `check()` returns an attempt that must be settled once (success, failure, or
 * cancel when the check could not be made, e.g. the directory was down). Unsettled attempts count
 * against the limits, so a burst of parallel guesses cannot slip past them; identical pairs in
 * flight together count once (they share one password check), and repeating a wrong password that
 * a client already had counted for an account is not a new guess, so it is not counted against the
 * account again (the address still counts it).
 *
 * Where the counters live is a CounterStore: this process's memory (the default), Redis shared by
 * every replica (redis-store.ts), or the primary shared by the workers of one server
 * (shared-store.ts over server/cluster-records.ts), so that guesses spread over replicas or workers
 * count as if they reached one. While a shared store is unavailable, attempts are counted in the
 * first of the `fallbacks` that can take them (the workers' primary while Redis is down, this
 * process's memory last): never unthrottled. Time comes from an injectable clock.
 */
import { randomBytes } from 'node:crypto';
import { normalizeAccount, normalizeAddress } from './client-keys.js';
import type { ThrottleConfig } from '../../config/schema/throttle.js';
import {
  addPending,
  CounterStoreUnavailable,
  forgetStale,
  limitOf,
  recordFailure,
  settle,
  tooManyRequests,
  type CounterKeys,
  type CounterStore,
  type Limit,
  type ThrottleCounters,
} from './counters.js';
import { MemoryCounterStore } from './memory-store.js';
import { RememberedSuccesses } from './remembered.js';

/** One password check in progress. Settle it exactly once; later calls are ignored. */
export interface LoginAttempt {
  /** The password was right. */
  success(): Promise<void>;
  /** The password was wrong, or the user unknown. */
  failure(): Promise<void>;
  /** No password check was made (the provider failed): counts as nothing. */
  cancel(): Promise<void>;
}

export interface LoginThrottleOptions {
  /** Clock in ms, for tests. */
  readonly now?: () => number;
  /** Where the counters live; default this process's memory. */
  readonly store?: CounterStore;
  /** Where attempts are counted while `store` is unavailable (a shared store's outage), in order. */
  readonly fallbacks?: readonly CounterStore[];
}

/** How long a shared store counts an attempt that was never settled (its replica died): longer than any password check. */
const PENDING_TTL_MS = 60_000;

const NOOP_ATTEMPT: LoginAttempt = Object.freeze({ async success() {}, async failure() {}, async cancel() {} });

export class LoginThrottle {
  private readonly config: ThrottleConfig;
  private readonly now: () => number;
  private readonly store: CounterStore;
  /** The store, then its fallbacks. */
  private readonly stores: readonly CounterStore[];
  private readonly remembered: RememberedSuccesses;
  /** Attempts without a password need a token no other replica uses. */
  private readonly instance = randomBytes(6).toString('base64url');
  private tokens = 0;

  constructor(config: ThrottleConfig, options: LoginThrottleOptions = {}) {
    this.config = config;
    this.now = options.now ?? Date.now;
    this.store = options.store ?? new MemoryCounterStore(config);
    this.stores = [this.store, ...(options.fallbacks ?? [])];
    this.remembered = new RememberedSuccesses(config.rememberSuccess, config.maxTrackedKeys);
  }

  /**
   * Call before checking a password the credential cache does not vouch for. Rejects with
   * RegistryError TOOMANYREQUESTS (with Retry-After) when this client may not try this account now;
   * otherwise resolves to the attempt to settle. `password` is optional: without it, a success is
   * not remembered and parallel attempts are not recognised as the same pair.
   */
  async check(user: string, ip: string, password?: string): Promise<LoginAttempt> {
    if (!this.config.enabled) return NOOP_ATTEMPT;
    const now = this.now();
    const digest = password === undefined ? undefined : this.remembered.digestOf(user, password);
    if (digest !== undefined && this.remembered.has(digest, now)) return this.trustedAttempt(user, ip, digest);

    const keys = this.keysOf(user, ip);
    const token = digest ?? `attempt:${this.instance}:${(this.tokens += 1)}`;
    let limit: Limit;
    try {
      limit = await this.update(keys, now, (counters) => {
        forgetStale(counters, now, this.config);
        const found = limitOf(counters, token, now, this.config);
        if (!found.blocked) addPending(counters, token, now + PENDING_TTL_MS);
        return found;
      });
    } catch (error) {
      // Replicas kept changing these counters: refusing is the safe answer, and the client retries.
      if (error instanceof CounterStoreUnavailable) throw tooManyRequests(1000);
      throw error;
    }
    if (limit.blocked) throw tooManyRequests(limit.retryAfterMs);

    let settled = false;
    const end = async (outcome: 'success' | 'failure' | 'cancel'): Promise<void> => {
      if (settled) return;
      settled = true;
      const at = this.now();
      await this.updateOrFallBack(keys, at, (counters) => {
        forgetStale(counters, at, this.config);
        settle(counters, token, outcome, digest, at, this.config);
      });
      if (outcome === 'success' && digest !== undefined) this.remembered.remember(digest, at);
    };
    return { success: () => end('success'), failure: () => end('failure'), cancel: () => end('cancel') };
  }

  /** Entries held in this process, for tests and metrics (a shared store's counters are not counted). */
  get size(): { accounts: number; addresses: number; pairs: number; knownGood: number } {
    const counters = this.store instanceof MemoryCounterStore ? this.store.size : { accounts: 0, addresses: 0, pairs: 0 };
    return { ...counters, knownGood: this.remembered.size };
  }

  /** Forgets everything this process holds (tests; a config reload). */
  clear(): void {
    if (this.store instanceof MemoryCounterStore) this.store.clear();
    this.remembered.clear();
  }

  private keysOf(user: string, ip: string): CounterKeys {
    const account = normalizeAccount(user);
    const address = normalizeAddress(ip, this.config.ipv6Prefix);
    // An address never holds a NUL, so the last one splits the key unambiguously.
    return { pair: `${account}\0${address}`, address, account };
  }

  /** In the first store that can be asked now; one too contended to agree is not passed over: the check gets a 429. */
  private update<T>(keys: CounterKeys, now: number, change: (counters: ThrottleCounters) => T): Promise<T> {
    return this.firstAnswering(keys, now, change, (reason) => reason === 'unavailable');
  }

  /** What happened must be counted somewhere: in the first store that can take it. */
  private async updateOrFallBack(keys: CounterKeys, now: number, change: (counters: ThrottleCounters) => void): Promise<void> {
    await this.firstAnswering(keys, now, change, () => true);
  }

  private async firstAnswering<T>(
    keys: CounterKeys,
    now: number,
    change: (counters: ThrottleCounters) => T,
    movesOn: (reason: CounterStoreUnavailable['reason']) => boolean,
  ): Promise<T> {
    for (let index = 0; ; index += 1) {
      const store = this.stores[index] as CounterStore;
      try {
        return await store.update(keys, now, change);
      } catch (error) {
        const last = index === this.stores.length - 1;
        if (last || !(error instanceof CounterStoreUnavailable) || !movesOn(error.reason)) throw error;
      }
    }
  }

  /** A pair that succeeded before: not held back; if it now fails (password changed), it counts as usual. */
  private trustedAttempt(user: string, ip: string, digest: string): LoginAttempt {
    let settled = false;
    return {
      success: () => {
        if (!settled) this.remembered.remember(digest, this.now());
        settled = true;
        return Promise.resolve();
      },
      failure: async () => {
        if (settled) return;
        settled = true;
        this.remembered.forget(digest);
        const now = this.now();
        await this.updateOrFallBack(this.keysOf(user, ip), now, (counters) => {
          forgetStale(counters, now, this.config);
          recordFailure(counters, now, digest, this.config);
        });
      },
      cancel: () => {
        settled = true;
        return Promise.resolve();
      },
    };
  }
}
