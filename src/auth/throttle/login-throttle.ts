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
 * - a pair that succeeded within `rememberSuccess` passes every limit (remembered as an HMAC under
 *   a per-process key, like the credential cache).
 *
 * Concurrency: each `check()` returns an attempt that must be settled once (success, failure, or
 * cancel when the check could not be made, e.g. the directory was down). Unsettled attempts count
 * against the limits, so a burst of parallel guesses cannot slip past them; identical pairs in
 * flight together count once (they share one password check), and repeating a wrong password that
 * a client already had counted for an account is not a new guess, so it is not counted against the
 * account again (the address still counts it).
 *
 * Memory is bounded: at most `maxTrackedKeys` accounts, addresses, account-and-address pairs and
 * remembered successes each, least recently used first out (preferring entries that block
 * nothing), and entries whose windows have passed are dropped as the oldest ones are visited. Time
 * comes from an injectable clock.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { RegistryError } from '../../errors.js';
import { normalizeAccount, normalizeAddress } from './client-keys.js';
import type { ThrottleConfig } from './config.js';

/** One password check in progress. Settle it exactly once; later calls are ignored. */
export interface LoginAttempt {
  /** The password was right. */
  success(): void;
  /** The password was wrong, or the user unknown. */
  failure(): void;
  /** No password check was made (the provider failed): counts as nothing. */
  cancel(): void;
}

export interface LoginThrottleOptions {
  /** Clock in ms, for tests. */
  readonly now?: () => number;
}

const HOUR_MS = 3_600_000;
const RECENT_WRONG_PASSWORDS = 8;
const EVICTION_SCAN = 64;

/**
 * What is kept per key. Pairs and addresses use the back-off fields; accounts use `hourly`. All
 * hold the attempts in flight.
 */
interface Counter {
  failures: number;
  lastFailureAt: number;
  blockedUntil: number;
  /** Attempts in flight, by pair digest (or a unique token when there is no password). */
  readonly pending: Map<string, Pending>;
  /** Accounts only: times of failures within the last hour, oldest first. */
  readonly hourly: number[];
  /** Pairs only: digests of the latest wrong passwords. */
  readonly recentWrong: string[];
}

interface Pending {
  /** Attempts sharing this pair, i.e. one password check. */
  count: number;
  /** One of them failed already and was counted. */
  failed: boolean;
}

type Limit = { readonly blocked: false } | { readonly blocked: true; readonly retryAfterMs: number };
const OPEN: Limit = { blocked: false };

const NOOP_ATTEMPT: LoginAttempt = Object.freeze({ success() {}, failure() {}, cancel() {} });

/** The counters one attempt touches. */
interface Keys {
  readonly pair: Counter;
  readonly address: Counter;
  readonly account: Counter;
}

export class LoginThrottle {
  private readonly config: ThrottleConfig;
  private readonly now: () => number;
  private readonly secret = randomBytes(32);
  /** Account and client address together: the back-off of one client guessing one account. */
  private readonly pairs = new Map<string, Counter>();
  private readonly addresses = new Map<string, Counter>();
  /** The hourly cap, shared by every client. */
  private readonly accounts = new Map<string, Counter>();
  private readonly knownGood = new Map<string, number>();
  private tokens = 0;

  constructor(config: ThrottleConfig, options: LoginThrottleOptions = {}) {
    this.config = config;
    this.now = options.now ?? Date.now;
  }

  /**
   * Call before checking a password the credential cache does not vouch for. Throws RegistryError
   * TOOMANYREQUESTS (with Retry-After) when this client may not try this account now; otherwise
   * returns the attempt to settle. `password` is optional: without it, a success is not remembered
   * and parallel attempts are not recognised as the same pair.
   */
  check(user: string, ip: string, password?: string): LoginAttempt {
    if (!this.config.enabled) return NOOP_ATTEMPT;
    const now = this.now();
    const digest = password === undefined ? undefined : this.digestOf(user, password);
    if (digest !== undefined && this.isKnownGood(digest, now)) return this.trustedAttempt(user, ip, digest);

    const keys = this.keysOf(user, ip, now);
    const token = digest ?? `attempt:${(this.tokens += 1)}`;
    const limit = longest(
      this.backoffLimitOf(keys.pair, token, this.config.maxFailuresPerAccount, now),
      this.backoffLimitOf(keys.address, token, this.config.maxFailuresPerIp, now),
      this.hourlyLimitOf(keys.account, token, now),
    );
    if (limit.blocked) throw tooManyRequests(limit.retryAfterMs);

    for (const counter of [keys.pair, keys.address, keys.account]) addPending(counter, token);
    let settled = false;
    const settle = (outcome: 'success' | 'failure' | 'cancel') => {
      if (settled) return;
      settled = true;
      const at = this.now();
      const failed = outcome === 'failure';
      // Identical pairs in flight together were one password check: their failure counts once.
      const newFailure = settlePending(keys.pair, token, failed);
      settlePending(keys.address, token, failed);
      settlePending(keys.account, token, failed);
      if (outcome === 'success') this.recordSuccess(keys.pair, digest, at);
      else if (newFailure) this.recordFailure(keys, at, digest);
      this.trimAll(at);
    };
    return { success: () => settle('success'), failure: () => settle('failure'), cancel: () => settle('cancel') };
  }

  /** Entries held, for tests and metrics. */
  get size(): { accounts: number; addresses: number; pairs: number; knownGood: number } {
    return { accounts: this.accounts.size, addresses: this.addresses.size, pairs: this.pairs.size, knownGood: this.knownGood.size };
  }

  /** Forgets everything (tests; a config reload). */
  clear(): void {
    this.pairs.clear();
    this.addresses.clear();
    this.accounts.clear();
    this.knownGood.clear();
  }

  private keysOf(user: string, ip: string, now: number): Keys {
    const account = normalizeAccount(user);
    const address = normalizeAddress(ip, this.config.ipv6Prefix);
    return {
      // An address never holds a NUL, so the last one splits the key unambiguously.
      pair: this.counter(this.pairs, `${account}\0${address}`, now),
      address: this.counter(this.addresses, address, now),
      account: this.counter(this.accounts, account, now),
    };
  }

  private digestOf(user: string, password: string): string {
    // Length-prefixed, so that no two (user, password) pairs share an input.
    return createHmac('sha256', this.secret).update(`${Buffer.byteLength(user)}:`).update(user).update(password).digest('base64url').slice(0, 22);
  }

  private isKnownGood(digest: string, now: number): boolean {
    const expiresAt = this.knownGood.get(digest);
    if (expiresAt === undefined) return false;
    if (expiresAt <= now) {
      this.knownGood.delete(digest);
      return false;
    }
    return true;
  }

  /** A pair that succeeded before: not held back; if it now fails (password changed), it counts as usual. */
  private trustedAttempt(user: string, ip: string, digest: string): LoginAttempt {
    let settled = false;
    return {
      success: () => {
        if (settled) return;
        settled = true;
        this.remember(digest, this.now());
      },
      failure: () => {
        if (settled) return;
        settled = true;
        this.knownGood.delete(digest);
        const now = this.now();
        this.recordFailure(this.keysOf(user, ip, now), now, digest);
      },
      cancel: () => {
        settled = true;
      },
    };
  }

  private remember(digest: string, now: number): void {
    if (this.config.rememberSuccess <= 0) return;
    this.knownGood.delete(digest);
    this.knownGood.set(digest, now + this.config.rememberSuccess);
    while (this.knownGood.size > this.config.maxTrackedKeys) {
      this.knownGood.delete(this.knownGood.keys().next().value as string);
    }
  }

  /** The counter for `key`, created if needed and moved to the most recently used end. */
  private counter(map: Map<string, Counter>, key: string, now: number): Counter {
    let counter = map.get(key);
    if (counter) {
      map.delete(key);
      if (counter.failures > 0 && now - counter.lastFailureAt >= this.config.forgetAfter) {
        counter.failures = 0;
        counter.recentWrong.length = 0;
      }
    } else {
      counter = { failures: 0, lastFailureAt: -Infinity, blockedUntil: -Infinity, pending: new Map(), hourly: [], recentWrong: [] };
    }
    // Trimmed before the counter goes back in, so that it is never the one dropped.
    this.trim(map, now, 1);
    map.set(key, counter);
    return counter;
  }

  /** Blocked by back-off, or by too many distinct attempts in flight for what is left before the threshold. */
  private backoffLimitOf(counter: Counter, token: string, threshold: number, now: number): Limit {
    if (counter.blockedUntil > now) return { blocked: true, retryAfterMs: counter.blockedUntil - now };
    if (counter.pending.has(token)) return OPEN;
    // Below the threshold, as many parallel guesses as failures are left; past it, one at a time.
    if (counter.pending.size >= Math.max(1, threshold - counter.failures)) return { blocked: true, retryAfterMs: 1000 };
    return OPEN;
  }

  private hourlyLimitOf(account: Counter, token: string, now: number): Limit {
    const hourly = account.hourly;
    while (hourly.length > 0 && (hourly[0] as number) <= now - HOUR_MS) hourly.shift();
    if (account.pending.has(token)) return OPEN;
    const cap = this.config.maxFailuresPerAccountPerHour;
    if (hourly.length + account.pending.size < cap) return OPEN;
    // Room again when enough of the hour's failures have aged out for this attempt and those in flight.
    const mustExpire = hourly.length + account.pending.size - cap;
    const until = mustExpire < hourly.length ? (hourly[mustExpire] as number) + HOUR_MS : now + 1000;
    return { blocked: true, retryAfterMs: Math.max(1000, until - now) };
  }

  /**
   * One failed check. The pair counts it unless it repeats one of the client's latest wrong
   * passwords for the account (then it is no new guess, and the hourly cap does not count it
   * either); the address counts it always.
   */
  private recordFailure(keys: Keys, now: number, digest: string | undefined): void {
    const { pair, address, account } = keys;
    this.backOff(address, this.config.maxFailuresPerIp, now);
    if (digest !== undefined) {
      if (pair.recentWrong.includes(digest)) return;
      pair.recentWrong.push(digest);
      if (pair.recentWrong.length > RECENT_WRONG_PASSWORDS) pair.recentWrong.shift();
    }
    this.backOff(pair, this.config.maxFailuresPerAccount, now);
    account.lastFailureAt = now;
    account.hourly.push(now);
    const cap = this.config.maxFailuresPerAccountPerHour;
    if (account.hourly.length > cap) account.hourly.splice(0, account.hourly.length - cap);
  }

  private backOff(counter: Counter, threshold: number, now: number): void {
    counter.failures += 1;
    counter.lastFailureAt = now;
    if (counter.failures < threshold) return;
    const exponent = Math.min(counter.failures - threshold, 40);
    const delay = Math.min(this.config.baseDelay * 2 ** exponent, this.config.maxDelay);
    counter.blockedUntil = Math.max(counter.blockedUntil, now + delay);
  }

  private recordSuccess(pair: Counter, digest: string | undefined, now: number): void {
    // The account's hourly record stays: a success must not hand an attacker a fresh hundred guesses.
    pair.failures = 0;
    pair.blockedUntil = -Infinity;
    pair.recentWrong.length = 0;
    if (digest !== undefined) this.remember(digest, now);
  }

  private trimAll(now: number): void {
    this.trim(this.pairs, now);
    this.trim(this.addresses, now);
    this.trim(this.accounts, now);
  }

  /**
   * Drops expired entries at the least recently used end, then evicts until `reserve` more fit:
   * among the oldest EVICTION_SCAN, the first that blocks nothing and has no attempt in flight,
   * else the oldest without one in flight, else the oldest.
   */
  private trim(map: Map<string, Counter>, now: number, reserve = 0): void {
    for (const [key, counter] of map) {
      if (!this.isExpired(counter, now)) break;
      map.delete(key);
    }
    while (map.size > 0 && map.size + reserve > this.config.maxTrackedKeys) {
      let cold: string | undefined;
      let idle: string | undefined;
      let scanned = 0;
      for (const [key, counter] of map) {
        if (scanned++ >= EVICTION_SCAN) break;
        if (counter.pending.size > 0) continue;
        idle ??= key;
        if (this.isCold(map, counter, now)) {
          cold = key;
          break;
        }
      }
      map.delete(cold ?? idle ?? (map.keys().next().value as string));
    }
  }

  /** Far from any limit: the first to go when room is needed. */
  private isCold(map: Map<string, Counter>, counter: Counter, now: number): boolean {
    if (map === this.accounts) return counter.hourly.length < this.config.maxFailuresPerAccountPerHour / 2;
    const threshold = map === this.pairs ? this.config.maxFailuresPerAccount : this.config.maxFailuresPerIp;
    return counter.blockedUntil <= now && counter.failures < threshold;
  }

  private isExpired(counter: Counter, now: number): boolean {
    return (
      counter.pending.size === 0 &&
      counter.blockedUntil <= now &&
      now - counter.lastFailureAt >= Math.max(this.config.forgetAfter, HOUR_MS)
    );
  }
}

function tooManyRequests(retryAfterMs: number): RegistryError {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new RegistryError('TOOMANYREQUESTS', 'too many failed logins; try again later', { headers: { 'Retry-After': String(seconds) } });
}

function longest(...limits: Limit[]): Limit {
  let result: Limit = OPEN;
  for (const limit of limits) {
    if (limit.blocked && (!result.blocked || limit.retryAfterMs > result.retryAfterMs)) result = limit;
  }
  return result;
}

function addPending(counter: Counter, token: string): void {
  const entry = counter.pending.get(token);
  if (entry) entry.count += 1;
  else counter.pending.set(token, { count: 1, failed: false });
}

/** Ends one attempt; true when it is a failure and the first of its pair's group to fail. */
function settlePending(counter: Counter, token: string, failed: boolean): boolean {
  const entry = counter.pending.get(token);
  if (!entry) return failed;
  const first = failed && !entry.failed;
  if (failed) entry.failed = true;
  entry.count -= 1;
  if (entry.count <= 0) counter.pending.delete(token);
  return first;
}
